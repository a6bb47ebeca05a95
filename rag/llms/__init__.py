"""Chat models that write kb's answers: the bundled GGUF, any GGUF, local GLM checkpoints, OpenAI-compatible servers."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from rag.llms.bundled import (
    DEFAULT_MODEL_FILENAME,
    DEFAULT_MODEL_SHA256,
    ensure_default_model,
    ensure_quality_model,
)
from rag.llms.spec import LLMKind, LLMSpec, parse_llm_spec

if TYPE_CHECKING:
    from rag.llms.chatglm import ChatGLM
    from rag.llms.llamacpp import ChatLlamaCpp
    from rag.llms.openai_compat import openai_chat_model

__all__ = [
    "DEFAULT_MODEL_FILENAME",
    "DEFAULT_MODEL_SHA256",
    "ChatGLM",
    "ChatLlamaCpp",
    "LLMKind",
    "LLMSpec",
    "counts_tokens_locally",
    "ensure_default_model",
    "ensure_quality_model",
    "openai_chat_model",
    "parse_llm_spec",
]

# The backends pull in torch/transformers, llama.cpp or the OpenAI client (seconds of import
# time); load each only when its name is first used, so parsing a spec stays cheap.
_LAZY_EXPORTS = {
    "ChatGLM": "rag.llms.chatglm",
    "ChatLlamaCpp": "rag.llms.llamacpp",
    "openai_chat_model": "rag.llms.openai_compat",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def counts_tokens_locally(llm: object) -> bool:
    """Whether ``llm`` counts tokens with its own tokenizer; a remote model's count would need tiktoken's files."""
    # A model's class is loaded before the model is: checking only loaded modules imports no backend here.
    local = ("rag.llms.llamacpp", "ChatLlamaCpp"), ("rag.llms.chatglm", "ChatGLM")
    return any(
        module in sys.modules and isinstance(llm, getattr(sys.modules[module], name))
        for module, name in local
    )
