"""kb: local knowledge-base question answering with cited sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.errors import (
    ConfigError,
    DocumentNotFound,
    EmbeddingMismatch,
    IngestError,
    KBError,
    KnowledgeBaseNotFound,
    ProviderUnavailable,
    UnsupportedFileType,
)
from kb.results import DocumentInfo, KnowledgeBaseInfo, SearchHit
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase, Workspace
    from rag.answer import Answer, AnswerEvent, Source, SourcesEvent, TokenEvent

__all__ = [
    "Answer",
    "AnswerEvent",
    "ConfigError",
    "DocumentInfo",
    "DocumentNotFound",
    "EmbeddingMismatch",
    "IngestError",
    "KBError",
    "KnowledgeBase",
    "KnowledgeBaseInfo",
    "KnowledgeBaseNotFound",
    "ProviderUnavailable",
    "SearchHit",
    "Settings",
    "Source",
    "SourcesEvent",
    "TokenEvent",
    "UnsupportedFileType",
    "Workspace",
]

# ``ingest`` and ``rag`` raise ``kb.errors`` types, so importing them runs this file first. The facade
# imports ``ingest`` and ``rag`` in turn, so it is loaded on first use rather than here, which keeps
# ``import ingest.loaders`` working as the first import of a process.
_LAZY = {
    "KnowledgeBase": "kb.knowledge_base",
    "Workspace": "kb.knowledge_base",
    "Answer": "rag.answer",
    "Source": "rag.answer",
    "SourcesEvent": "rag.answer",
    "TokenEvent": "rag.answer",
    "AnswerEvent": "rag.answer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kb' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
