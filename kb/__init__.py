"""kb: local knowledge-base question answering with cited sources.

Names load on first use (PEP 562): ``kb --help`` and every CLI start pay only for what the command
touches, not for pydantic models and settings it never builds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.documents import doc_id_for
    from kb.knowledge_base import KnowledgeBase, supported_suffixes
    from kb.offline import apply_offline_environment
    from kb.settings import Settings
    from kb.workspace import Workspace, validate_kb_name
    from kbtypes.answer import Answer, AnswerEvent, AnswerMode, Source, SourcesEvent, TokenEvent
    from kbtypes.errors import (
        ConfigError,
        ConversationNotFound,
        DocumentNotFound,
        EmbeddingMismatch,
        IngestError,
        KBError,
        KnowledgeBaseNotFound,
        ProviderUnavailable,
        UnsupportedFileType,
    )
    from kbtypes.results import DocumentInfo, FileFailure, IngestReport, KnowledgeBaseInfo, SearchHit
    from kbtypes.retrieval import RetrievalMode, RetrievalOptions

_EXPORTS: dict[str, str] = {
    "Answer": "kbtypes.answer",
    "AnswerEvent": "kbtypes.answer",
    "AnswerMode": "kbtypes.answer",
    "ConfigError": "kbtypes.errors",
    "ConversationNotFound": "kbtypes.errors",
    "DocumentInfo": "kbtypes.results",
    "DocumentNotFound": "kbtypes.errors",
    "EmbeddingMismatch": "kbtypes.errors",
    "FileFailure": "kbtypes.results",
    "IngestError": "kbtypes.errors",
    "IngestReport": "kbtypes.results",
    "KBError": "kbtypes.errors",
    "KnowledgeBase": "kb.knowledge_base",
    "KnowledgeBaseInfo": "kbtypes.results",
    "KnowledgeBaseNotFound": "kbtypes.errors",
    "ProviderUnavailable": "kbtypes.errors",
    "RetrievalMode": "kbtypes.retrieval",
    "RetrievalOptions": "kbtypes.retrieval",
    "SearchHit": "kbtypes.results",
    "Settings": "kb.settings",
    "Source": "kbtypes.answer",
    "SourcesEvent": "kbtypes.answer",
    "TokenEvent": "kbtypes.answer",
    "UnsupportedFileType": "kbtypes.errors",
    "Workspace": "kb.workspace",
    "apply_offline_environment": "kb.offline",
    "doc_id_for": "kb.documents",
    "supported_suffixes": "kb.knowledge_base",
    "validate_kb_name": "kb.workspace",
}

__all__ = [
    "Answer",
    "AnswerEvent",
    "AnswerMode",
    "ConfigError",
    "ConversationNotFound",
    "DocumentInfo",
    "DocumentNotFound",
    "EmbeddingMismatch",
    "FileFailure",
    "IngestError",
    "IngestReport",
    "KBError",
    "KnowledgeBase",
    "KnowledgeBaseInfo",
    "KnowledgeBaseNotFound",
    "ProviderUnavailable",
    "RetrievalMode",
    "RetrievalOptions",
    "SearchHit",
    "Settings",
    "Source",
    "SourcesEvent",
    "TokenEvent",
    "UnsupportedFileType",
    "Workspace",
    "apply_offline_environment",
    "doc_id_for",
    "supported_suffixes",
    "validate_kb_name",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
