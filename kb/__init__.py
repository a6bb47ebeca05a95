"""kb: local knowledge-base question answering with cited sources."""

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
from kb.knowledge_base import KnowledgeBase, Workspace
from kb.results import DocumentInfo, KnowledgeBaseInfo, SearchHit
from kb.settings import Settings

__all__ = [
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
    "UnsupportedFileType",
    "Workspace",
]
