"""What kb embeds with: a model that names itself, kept apart from LangChain so a search need not import it.

Importing LangChain's ``Embeddings`` loads its runnables and callback machinery, about a fifth of a second
before the first question; ``kb search`` embeds one question. kb's own parts take an ``Embedder``, and
``as_langchain`` hands any of them to LangChain code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = ["Embedder"]


class Embedder(ABC):
    """An embedding model that can name itself, so a knowledge base can refuse a different one."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """A stable name for the model and its query/passage recipe."""

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages."""

    @abstractmethod
    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""

    def count_tokens(self, texts: Sequence[str]) -> int | None:
        """Tokens the model reads for these passages, for throughput figures; None when it cannot tell."""
        return None

    @property
    def dimension(self) -> int:
        """Length of each vector; probed once when the model does not declare it."""
        cached: int | None = getattr(self, "_probed_dimension", None)
        if cached is None:
            cached = len(self.embed_query("dimension probe"))
            self._probed_dimension = cached
        return cached

    def as_langchain(self) -> Embeddings:
        """This model as a LangChain ``Embeddings`` (itself when it already is one)."""
        from rag.embeddings import LangChainEmbeddings

        return LangChainEmbeddings(self)
