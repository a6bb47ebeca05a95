"""``Workspace``: the registry of knowledge bases under ``KB_HOME`` and their folder layout.

``KB_HOME/kbs/<name>/`` holds one knowledge base: ``kb.json`` (what makes the folder one), the manifest,
the lexical index, the embedded Chroma store (unless a Chroma server is configured) and ``uploads/``.
Assembled models live in ``KB_HOME/models/``, conversations and ratings in ``KB_HOME/conversations.sqlite3``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kb.composition import components_from_settings, open_knowledge_base
from kb.conversations import ConversationStore
from kb.knowledge_base import INFO_FILE, KnowledgeBase
from kb.offline import apply_offline_environment
from kb.settings import Settings
from kbtypes.errors import ConfigError, KnowledgeBaseNotFound

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.language_models import BaseChatModel

    from rag.embedder import Embedder
    from rag.rerank import CrossEncoderReranker

__all__ = ["Workspace", "validate_kb_name"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def validate_kb_name(name: str) -> str:
    """Return ``name`` if it is a safe knowledge-base name (letters, digits, ``-``, ``_``; ≤ 63 chars).

    Raises:
        ConfigError: the name is not allowed.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid knowledge base name {name!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


class Workspace:
    """All knowledge bases under one home folder, sharing one embedder and one chat model."""

    def __init__(
        self,
        *,
        settings: Settings,
        embeddings: Embedder,
        chat_model: Callable[[], BaseChatModel] | None = None,
        reranker: CrossEncoderReranker | None = None,
        chroma: ClientAPI | None = None,
    ) -> None:
        """Assemble a workspace from ready-made components.

        Args:
            settings: kb settings (home folder, ingest and retrieval parameters).
            embeddings: the embedder every knowledge base here uses.
            chat_model: returns the shared chat model on first use.
            reranker: optional cross-encoder.
            chroma: a Chroma server client; None keeps an embedded store in each knowledge base's folder.
        """
        self._settings = settings
        self._embeddings = embeddings
        self._reranker = reranker
        self._chat_model_factory = chat_model
        self._chat_model: BaseChatModel | None = None
        self._chroma = chroma
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings, *, load_chat_model: bool = True) -> Workspace:
        """Build every component the settings name (the chat model lazily), offline.

        Raises:
            ConfigError: a setting is invalid.
            ProviderUnavailable: a model or the Chroma server cannot be reached.
        """
        apply_offline_environment()
        parts = components_from_settings(settings, load_chat_model=load_chat_model)
        return cls(
            settings=settings,
            embeddings=parts.embeddings,
            chat_model=parts.chat_model,
            reranker=parts.reranker,
            chroma=parts.chroma,
        )

    @property
    def settings(self) -> Settings:
        """The settings this workspace was built with."""
        return self._settings

    @property
    def root(self) -> Path:
        """Folder holding one sub-folder per knowledge base."""
        return self._settings.home / "kbs"

    def conversations(self) -> ConversationStore:
        """Open the store of conversations and ratings every knowledge base of this home shares.

        The caller owns the store and closes it; the server holds one for its lifetime.
        """
        return self.conversations_of(self._settings)

    @staticmethod
    def conversations_of(settings: Settings) -> ConversationStore:
        """The conversation store of ``settings.home``, without building a workspace (for the CLI)."""
        return ConversationStore(
            settings.home / "conversations.sqlite3", max_turns=settings.server.session_turns
        )

    def chat_model(self) -> BaseChatModel:
        """The shared chat model, built on first use.

        Raises:
            ConfigError: the workspace has no chat model configured.
        """
        with self._lock:
            if self._chat_model is None:
                if self._chat_model_factory is None:
                    raise ConfigError("no chat model configured")
                self._chat_model = self._chat_model_factory()
            return self._chat_model

    @property
    def chat_model_loaded(self) -> bool:
        """Whether the chat model has been loaded yet."""
        return self._chat_model is not None

    def names(self) -> list[str]:
        """Names of the existing knowledge bases."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / INFO_FILE).exists())

    def exists(self, name: str) -> bool:
        """Whether a knowledge base of that name exists."""
        return (self.root / validate_kb_name(name) / INFO_FILE).exists()

    def create(self, name: str, *, description: str = "") -> KnowledgeBase:
        """Create a knowledge base (a no-op for its folder if it exists) and open it.

        Raises:
            ConfigError: invalid name.
        """
        directory = self.root / validate_kb_name(name)
        directory.mkdir(parents=True, exist_ok=True)
        info = directory / INFO_FILE
        if not info.exists():
            record = {"name": name, "description": description, "embedding_model": self._embeddings.model_id}
            info.write_text(json.dumps(record), encoding="utf-8")
        return self.open(name)

    def open(self, name: str, *, create: bool = False) -> KnowledgeBase:
        """Open an existing knowledge base (cached per workspace).

        Raises:
            KnowledgeBaseNotFound: it does not exist and ``create`` is false.
            EmbeddingMismatch: it was built with another embedding model.
        """
        with self._lock:
            if name in self._open:
                return self._open[name]
            if not self.exists(name):
                if not create:
                    raise KnowledgeBaseNotFound(
                        f"no knowledge base named {name!r}; create it with `kb ingest PATH --kb {name}`"
                    )
                return self.create(name)
            kb = open_knowledge_base(
                name=name,
                directory=self.root / name,
                settings=self._settings,
                embeddings=self._embeddings,
                chroma=self._chroma,
                chat_model=self.chat_model if self._chat_model_factory else None,
                reranker=self._reranker,
            )
            self._open[name] = kb
            return kb

    def delete(self, name: str) -> None:
        """Delete a knowledge base: its vectors, index, manifest and folder.

        Raises:
            KnowledgeBaseNotFound: it does not exist.
        """
        kb = self.open(name)
        with self._lock:
            kb.drop()
            self._open.pop(name, None)
            shutil.rmtree(kb.directory, ignore_errors=True)
        logger.info("deleted kb=%s", name)

    def close(self) -> None:
        """Close every open knowledge base."""
        with self._lock:
            for kb in self._open.values():
                kb.close()
            self._open.clear()
