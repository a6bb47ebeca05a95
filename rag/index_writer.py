"""The one writer of a knowledge base's index: the vector store and the BM25 index move together here.

Ingest decides *what* to write (which file's chunks, inside the manifest's bracket); this module decides
*how*: vectors are reused by content hash and only never-seen texts are embedded, both stores take every
upsert and delete, removed chunks are hidden at once and deleted later, and a sweep brings both back to a
given set of owned ids after a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rag.embedder import Embedder
from rag.lexical import LexicalIndex
from rag.store import ChromaChunkStore

__all__ = ["EmbeddedBatch", "IndexWriter"]

logger = logging.getLogger(__name__)

_EMBED_SLICE = 64  # texts embedded between two checks for a stop (about 5 s on 2 cores)


@dataclass(frozen=True)
class EmbeddedBatch:
    """Vectors for a batch of chunk texts, keyed by content hash, and what computing them cost."""

    vectors: dict[str, list[float]]
    embedded: int
    seconds: float
    tokens: int = 0
    complete: bool = True


class IndexWriter:
    """Writes chunks to the vector store and the lexical index of one knowledge base, in step."""

    def __init__(self, store: ChromaChunkStore, lexical: LexicalIndex, embeddings: Embedder) -> None:
        """Write through ``store`` and ``lexical``, embedding passages with ``embeddings``."""
        self._store = store
        self._lexical = lexical
        self._embeddings = embeddings

    @property
    def store(self) -> ChromaChunkStore:
        """The vector store this writer fills (read access for searches and checks)."""
        return self._store

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index this writer fills."""
        return self._lexical

    def embed(
        self, text_by_hash: Mapping[str, str], *, after_slice: Callable[[int, int], bool] | None = None
    ) -> EmbeddedBatch:
        """One vector per distinct text: stored vectors are reused, only texts never seen are embedded.

        A large batch (one big file is one batch) is embedded in slices. ``after_slice(done, total)`` is
        called after each: a caller shows progress through a big file with it, and returns True to stop
        (a server shutting down does not wait for thousands of chunks).
        """
        vectors = self._store.vectors_by_content_hash(list(text_by_hash))
        missing = [h for h in text_by_hash if h not in vectors]
        seconds, done, tokens = 0.0, 0, 0
        for start in range(0, len(missing), _EMBED_SLICE):
            if start and after_slice is not None and after_slice(done, len(missing)):
                return EmbeddedBatch(vectors, done, seconds, tokens, complete=False)
            texts = [text_by_hash[h] for h in missing[start : start + _EMBED_SLICE]]
            started = time.perf_counter()
            rows = self._embeddings.embed_documents(texts)
            seconds += time.perf_counter() - started
            vectors.update(zip(missing[start : start + _EMBED_SLICE], rows, strict=True))
            done += len(texts)
            tokens += self._embeddings.count_tokens(texts) or 0
        return EmbeddedBatch(vectors=vectors, embedded=done, seconds=seconds, tokens=tokens)

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Insert or replace chunks by id in both stores."""
        if not ids:
            return
        self._store.upsert(ids, texts, metadatas, vectors)
        self._lexical.upsert(ids, texts, metadatas)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete chunks from both stores at once; unknown ids are ignored."""
        if ids:
            self._store.delete(ids)
            self._lexical.delete(ids)

    def hide(self, ids: Iterable[str]) -> None:
        """Take chunks out of every search now; their vector rows wait for ``purge``."""
        ids = list(ids)
        if ids:
            self._store.hide(ids)
            self._lexical.delete(ids)

    def purge(self, ids: Sequence[str]) -> None:
        """Delete hidden chunks' vector rows (the slow part of a removal)."""
        self._store.delete(ids)
        self._store.unhide(ids)

    def in_step(self, owned: set[str]) -> bool:
        """Whether the lexical index holds exactly ``owned`` (a kill between a write and a save breaks this)."""
        return self._lexical.ids() == owned

    def sweep(self, owned: set[str]) -> int:
        """Make both stores hold exactly ``owned``: delete orphans, restore lexical entries a crash lost.

        Returns:
            How many orphaned vector rows were deleted.
        """
        orphans = sorted(self._store.all_ids() - owned)
        if orphans:
            self._store.delete(orphans)
        restored, dropped = self.reconcile_lexical(owned)
        logger.info(
            "sweep orphans=%d lexical_orphans=%d lexical_restored=%d", len(orphans), dropped, restored
        )
        return len(orphans)

    def reconcile_lexical(self, owned: set[str]) -> tuple[int, int]:
        """Make the BM25 index (in memory) hold exactly ``owned``; returns (restored, dropped).

        Owned chunks a kill before the lexical save lost are restored from the vector store, which holds
        their texts; entries no committed file owns are dropped.
        """
        lexical_ids = self._lexical.ids()
        orphans = lexical_ids - owned
        if orphans:
            self._lexical.delete(orphans)
        missing = sorted(owned - lexical_ids)
        if missing:
            found = self._store.texts(missing)
            self._lexical.upsert(list(found), [t for t, _ in found.values()], [m for _, m in found.values()])
        return len(missing), len(orphans)

    def save(self) -> None:
        """Persist the lexical index (the vector store persists each write itself)."""
        self._lexical.save()
