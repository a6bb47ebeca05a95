"""What ingest needs from the rest of kb, as Protocols: an index to write chunks to, a progress receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["ChunkIndex", "EmbeddedVectors", "IngestProgress"]


class EmbeddedVectors(Protocol):
    """Vectors for a batch of texts by content hash, and what computing them cost."""

    @property
    def vectors(self) -> Mapping[str, Sequence[float]]:
        """One vector per content hash."""

    @property
    def embedded(self) -> int:
        """How many texts had to be embedded (the rest were reused)."""

    @property
    def seconds(self) -> float:
        """Time spent embedding."""

    @property
    def tokens(self) -> int:
        """Tokens the embedder read (0 when it cannot count them)."""

    @property
    def complete(self) -> bool:
        """False when a stop ended the batch before every text had its vector."""


class ChunkIndex(Protocol):
    """Where chunks go: the vector store and the lexical index in step (``rag.index_writer.IndexWriter``)."""

    def embed(
        self, text_by_hash: Mapping[str, str], *, after_slice: Callable[[int, int], bool] | None = None
    ) -> EmbeddedVectors:
        """Vectors for these texts, reusing stored ones; ``after_slice(done, total)`` reports and may stop."""

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Insert or replace chunks by id."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks now; unknown ids are ignored."""

    def hide(self, ids: Iterable[str]) -> None:
        """Keep chunks out of searches until they are purged."""

    def purge(self, ids: Sequence[str]) -> None:
        """Delete hidden chunks' remaining rows."""

    def in_step(self, owned: set[str]) -> bool:
        """Whether the index holds exactly these ids."""

    def sweep(self, owned: set[str]) -> int:
        """Make the index hold exactly these ids; returns how many orphaned rows were deleted."""

    def save(self) -> None:
        """Persist what is not persisted on write."""


class IngestProgress(Protocol):
    """Receives progress so a front end can draw a bar; the library itself never prints."""

    def start(self, files: int, total_bytes: int) -> None:
        """Ingest is about to look at this many files, of this many bytes on disk."""

    def file_done(self, source: str, chunks: int, size: int) -> None:
        """One file of ``size`` bytes finished (indexed, unchanged, or failed)."""

    def embedding(self, done: int, total: int, size: int) -> None:
        """A batch of files of ``size`` bytes (one big file, often) is embedding: ``done`` of ``total`` chunks."""

    def cancelled(self) -> bool:
        """Whether to stop after the batch being written (a server shutting down); the rest waits for a rerun."""
