"""Exception hierarchy for kb.

Every error kb raises on purpose derives from ``KBError``, grouped by what the caller can do about it::

    KBError
    ├── ConfigError            settings or arguments are wrong: fix the configuration
    │   └── EmbeddingMismatch  the KB was built with another embedding model: use that one or rebuild
    ├── KnowledgeBaseNotFound  no KB of that name: create it or pick another
    ├── DocumentNotFound       no such document in the KB
    ├── ConversationNotFound   no such conversation (or turn) for this caller
    ├── IngestError            a file could not be turned into chunks: fix or skip the file
    │   └── UnsupportedFileType  kb has no loader for this kind of file
    └── ProviderUnavailable    a model or server kb depends on cannot be reached or loaded

It sits in the bottom layer and imports nothing of ours, so every layer raises these types and the CLI
and the server map them without knowing which layer raised.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConversationNotFound",
    "DocumentNotFound",
    "EmbeddingMismatch",
    "IngestError",
    "KBError",
    "KnowledgeBaseNotFound",
    "ProviderUnavailable",
    "UnsupportedFileType",
]


class KBError(Exception):
    """Root of every error kb raises deliberately."""


class ConfigError(KBError):
    """Settings or arguments are invalid or contradict each other."""


class EmbeddingMismatch(ConfigError):
    """The knowledge base was built with a different embedding model or dimension."""


class KnowledgeBaseNotFound(KBError):
    """No knowledge base exists under that name."""


class DocumentNotFound(KBError):
    """The knowledge base holds no document with that source or id."""


class ConversationNotFound(KBError):
    """The caller holds no conversation (or turn) with that id in the knowledge base."""


class IngestError(KBError):
    """A file could not be loaded or split; the message is a one-line reason."""


class UnsupportedFileType(IngestError):
    """kb has no loader for this file's type."""


class ProviderUnavailable(KBError):
    """An embedding model, LLM or server kb depends on cannot be reached or loaded."""
