"""Persistent, incrementally updated BM25 index over chunk texts."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from kbtypes.errors import ConfigError
from rag.postings import Segment, build_segment, merge_segments, read_segment, write_segment
from rag.tokenize import TOKENIZER_VERSION, tokenize
from rag.topk import top_rows, top_rows_where

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["LexicalIndex"]

logger = logging.getLogger(__name__)

_FORMAT = 1
_MANIFEST = "manifest.json"
# Only names of these shapes are ever deleted from the index folder.
_OWNED_FILE = re.compile(r"(seg-\d+\.npz|live-\d+\.npy|vocab-\d+\.json|\..+\.tmp-\d+)")
# Segments whose live row counts share a power of this base form a tier; a full tier is merged into one.
_FANOUT = 8
_LOAD_ATTEMPTS = 3


@dataclass(frozen=True)
class _Layout:
    """Per-row arrays over all segments, rebuilt after any change; search reads only this."""

    offsets: npt.NDArray[np.int64]  # first row of each segment
    live: npt.NDArray[np.bool_]
    norm: npt.NDArray[np.float64]  # k1 * (1 - b + b * doc_len / avgdl)
    n_live: int
    row_meta: npt.NDArray[np.int64]  # index into metas
    metas: list[dict[str, Any]]  # the segments' metadata tables, concatenated


class LexicalIndex:
    """A BM25 index of chunk texts with metadata, kept in a folder and updated in place.

    Chunks live in segments: each ``upsert`` call adds a small segment, ``delete`` only marks rows
    dead, and segments of similar size are merged once ``_FANOUT`` of them accumulate, so updating
    one file costs time proportional to that file, not to the index. Document frequencies and the
    average length are computed from live rows at query time, so scores always match a freshly
    built index over the same chunks.

    ``save`` writes new segment files, then commits by atomically replacing ``manifest.json``; a
    crash at any moment leaves the previous or the new state on disk. One process may write a
    folder at a time. Methods are thread-safe.

    Args:
        directory: Folder holding the index; loaded if it contains one, created by ``save``.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.

    Raises:
        ConfigError: ``k1`` or ``b`` is out of range, or the folder holds an index that cannot be
            read or was built with another tokenizer version (delete the folder and re-ingest).
    """

    def __init__(self, directory: Path, *, k1: float = 1.5, b: float = 0.75) -> None:
        """Open (or start) the index kept in ``directory``, scoring with BM25 parameters ``k1`` and ``b``."""
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1} b={b}")
        self._directory = directory
        self._k1 = k1
        self._b = b
        self._lock = threading.RLock()
        self._segments: list[Segment] = []
        self._locations: dict[str, tuple[Segment, int]] = {}
        self._vocab: dict[str, int] = {}
        self._layout: _Layout | None = None
        self._generation = 0
        self._next_segment = 0
        self._saved_segments: set[str] = set()
        self._saved_vocab: tuple[str, int] | None = None  # file name, term count
        if (directory / _MANIFEST).exists():
            self._load()

    def __len__(self) -> int:
        """Live (not deleted) documents in the index."""
        with self._lock:
            return len(self._locations)

    def ids(self) -> set[str]:
        """Return the ids of all chunks in the index."""
        with self._lock:
            return set(self._locations)

    def upsert(
        self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Add chunks, replacing any chunk that already has one of the ids.

        Args:
            ids: Chunk ids; if one repeats, its last text and metadata win.
            texts: Chunk texts, aligned with ``ids``.
            metadatas: JSON-serialisable metadata per chunk, aligned with ``ids``; ``search`` filters on it.

        Raises:
            ValueError: The sequences differ in length or a metadata value is not JSON-serialisable.
        """
        if not len(ids) == len(texts) == len(metadatas):
            raise ValueError(
                f"upsert needs aligned sequences, got ids={len(ids)} texts={len(texts)} "
                f"metadatas={len(metadatas)}"
            )
        if not ids:
            return
        last = {chunk_id: position for position, chunk_id in enumerate(ids)}
        tokens = [tokenize(texts[position]) for position in last.values()]
        metas = [metadatas[position] for position in last.values()]
        with self._lock:
            # Built before anything is replaced, so invalid metadata leaves the index unchanged.
            segment = build_segment(self._new_name(), list(last), tokens, metas, self._vocab)
            self._tombstone(last)
            self._segments.append(segment)
            self._register([segment])
            self._maintain()
        logger.debug("lexical upsert chunks=%d segments=%d", len(last), len(self._segments))

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id; ids not in the index are ignored."""
        with self._lock:
            removed = self._tombstone(ids)
            self._maintain()
        logger.debug("lexical delete chunks=%d", removed)

    def search(
        self, query: str, k: int, *, where: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> list[tuple[str, float]]:
        """Rank chunks against a query with BM25.

        Args:
            query: Free text, tokenised like the chunks.
            k: Maximum number of results.
            where: Keeps only chunks whose metadata (as given to ``upsert``) it accepts; it is called
                at most once per distinct metadata value among the best-scoring chunks.

        Returns:
            Up to ``k`` ``(id, score)`` pairs, best first; only chunks sharing a term with the query.
        """
        query_terms = Counter(tokenize(query)) if k > 0 else Counter()
        if not query_terms:
            return []
        with self._lock:
            layout = self._current_layout()
            terms = {self._vocab[term]: count for term, count in query_terms.items() if term in self._vocab}
            if layout.n_live == 0 or not terms:
                return []
            scores = np.zeros(len(layout.live), dtype=np.float64)
            for term, count in terms.items():
                self._accumulate(term, count, layout, scores)
            scores[~layout.live] = 0.0
            candidates = np.flatnonzero(scores)
            rows = (
                top_rows(candidates, scores, k)
                if where is None
                else top_rows_where(candidates, scores, k, where, layout.row_meta, layout.metas)
            )
            segment_of = np.searchsorted(layout.offsets, rows, side="right") - 1
            return [
                (self._segments[segment].ids[row - int(layout.offsets[segment])], float(scores[row]))
                for row, segment in zip(rows.tolist(), segment_of.tolist(), strict=True)
            ]

    def save(self) -> None:
        """Write the index to its folder atomically and delete files the new state no longer uses."""
        with self._lock:
            self._directory.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            for segment in self._segments:
                if segment.name not in self._saved_segments:
                    _write_atomically(
                        self._directory / f"{segment.name}.npz", partial(write_segment, segment)
                    )
            if self._saved_vocab is None or self._saved_vocab[1] != len(self._vocab):
                vocab_name = f"vocab-{generation:06d}.json"
                vocab_bytes = json.dumps(list(self._vocab), ensure_ascii=False).encode()
                _write_atomically(self._directory / vocab_name, lambda file: file.write(vocab_bytes))
                self._saved_vocab = (vocab_name, len(self._vocab))
            live_name = f"live-{generation:06d}.npy"
            live = self._current_layout().live
            _write_atomically(self._directory / live_name, lambda file: np.save(file, live))
            manifest = {
                "format": _FORMAT,
                "tokenizer": TOKENIZER_VERSION,
                "generation": generation,
                "next_segment": self._next_segment,
                "segments": [segment.name for segment in self._segments],
                "live": live_name,
                "vocab": self._saved_vocab[0],
            }
            manifest_bytes = json.dumps(manifest, indent=1).encode()
            _write_atomically(self._directory / _MANIFEST, lambda file: file.write(manifest_bytes))
            _sync_directory(self._directory)
            self._generation = generation
            names = [segment.name for segment in self._segments]
            self._saved_segments = set(names)
            keep = {*(f"{name}.npz" for name in names), live_name, self._saved_vocab[0], _MANIFEST}
            for path in self._directory.iterdir():
                if path.name not in keep and _OWNED_FILE.fullmatch(path.name):
                    path.unlink(missing_ok=True)
        logger.debug(
            "lexical saved directory=%s generation=%d chunks=%d", self._directory, generation, len(self)
        )

    def _accumulate(self, term: int, count: int, layout: _Layout, scores: npt.NDArray[np.float64]) -> None:
        postings = []
        for offset, segment in zip(layout.offsets.tolist(), self._segments, strict=True):
            rows, tfs = segment.postings(term)
            if len(rows):
                postings.append((rows + offset, tfs))
        df = sum(int(np.count_nonzero(layout.live[rows])) for rows, _ in postings)
        if df == 0:
            return
        idf = math.log1p((layout.n_live - df + 0.5) / (df + 0.5))
        weight = count * idf * (self._k1 + 1.0)
        for rows, tfs in postings:
            tf = tfs.astype(np.float64)
            scores[rows] += weight * tf / (tf + layout.norm[rows])

    def _current_layout(self) -> _Layout:
        if self._layout is None:
            sizes = [len(segment.ids) for segment in self._segments]
            offsets = np.cumsum([0, *sizes], dtype=np.int64)[:-1]
            live = np.concatenate([s.live for s in self._segments]) if sizes else np.zeros(0, np.bool_)
            doc_len = np.concatenate([s.doc_len for s in self._segments]) if sizes else np.zeros(0, np.int32)
            n_live = int(np.count_nonzero(live))
            avgdl = max(float(doc_len[live].sum()) / n_live, 1.0) if n_live else 1.0
            norm = self._k1 * (1.0 - self._b + self._b * doc_len.astype(np.float64) / avgdl)
            table_starts = np.cumsum([0, *(len(s.metas) for s in self._segments)], dtype=np.int64).tolist()
            row_meta = (
                np.concatenate(
                    [
                        s.meta_index.astype(np.int64) + t
                        for s, t in zip(self._segments, table_starts[:-1], strict=True)
                    ]
                )
                if sizes
                else np.zeros(0, np.int64)
            )
            metas = list(chain.from_iterable(s.metas for s in self._segments))
            self._layout = _Layout(offsets, live, norm, n_live, row_meta, metas)
        return self._layout

    def _tombstone(self, ids: Iterable[str]) -> int:
        removed = 0
        for chunk_id in ids:
            location = self._locations.pop(chunk_id, None)
            if location is not None:
                location[0].live[location[1]] = False
                removed += 1
        if removed:
            self._layout = None
        return removed

    def _new_name(self) -> str:
        name = f"seg-{self._next_segment:06d}"
        self._next_segment += 1
        return name

    def _register(self, segments: list[Segment]) -> None:
        """Point the ids of the live rows of segments (already in ``_segments``) at them."""
        for segment in segments:
            for row in np.flatnonzero(segment.live).tolist():
                self._locations[segment.ids[row]] = (segment, row)
        self._layout = None

    def _maintain(self) -> None:
        """Drop empty segments, compact mostly-dead ones and merge full size tiers."""
        while True:
            live_counts = [int(np.count_nonzero(segment.live)) for segment in self._segments]
            if 0 in live_counts:
                self._replace([self._segments[live_counts.index(0)]], None)
                continue
            sparse = [s for s, live in zip(self._segments, live_counts, strict=True) if live * 2 < len(s.ids)]
            if sparse:
                self._replace(sparse[:1], self._merge_into_one(sparse[:1]))
                continue
            tiers: dict[int, list[Segment]] = {}
            for segment, live in zip(self._segments, live_counts, strict=True):
                tiers.setdefault(_tier(live), []).append(segment)
            full = [tier for tier in tiers.values() if len(tier) >= _FANOUT]
            if not full:
                return
            self._replace(full[0], self._merge_into_one(full[0]))

    def _replace(self, old: list[Segment], new: Segment | None) -> None:
        position = self._segments.index(old[0])
        self._segments = [segment for segment in self._segments if all(segment is not o for o in old)]
        if new is not None:
            self._segments.insert(position, new)
            self._register([new])
        self._layout = None
        logger.debug("lexical merged segments=%d into=%s", len(old), new.name if new else None)

    def _merge_into_one(self, segments: list[Segment]) -> Segment:
        return merge_segments(self._new_name(), segments, len(self._vocab))

    def _load(self) -> None:
        directory = self._directory
        for attempt in range(_LOAD_ATTEMPTS):
            manifest_text = (directory / _MANIFEST).read_text(encoding="utf-8")
            try:
                manifest, terms, segments = _read_state(directory, manifest_text)
                break
            except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
                # A writer that commits while we read deletes the files of the state we started
                # reading; the new manifest then names files that exist, so read again.
                if (
                    attempt + 1 < _LOAD_ATTEMPTS
                    and (directory / _MANIFEST).read_text("utf-8") != manifest_text
                ):
                    continue
                raise ConfigError(
                    f"lexical index at {directory} is unreadable ({e}); delete the folder and re-ingest "
                    "to rebuild it"
                ) from e
        self._vocab = {term: position for position, term in enumerate(terms)}
        self._segments = segments
        self._register(segments)
        self._generation = int(manifest["generation"])
        self._next_segment = int(manifest["next_segment"])
        self._saved_segments = set(manifest["segments"])
        self._saved_vocab = (manifest["vocab"], len(terms))
        logger.debug("lexical loaded directory=%s chunks=%d segments=%d", directory, len(self), len(segments))


def _read_state(directory: Path, manifest_text: str) -> tuple[dict[str, Any], list[str], list[Segment]]:
    """Read the vocabulary and segments a manifest names, with their live masks applied."""
    manifest: dict[str, Any] = json.loads(manifest_text)
    if manifest.get("format") != _FORMAT or manifest.get("tokenizer") != TOKENIZER_VERSION:
        raise ConfigError(
            f"lexical index at {directory} has format={manifest.get('format')} "
            f"tokenizer={manifest.get('tokenizer')}, this kb needs format={_FORMAT} "
            f"tokenizer={TOKENIZER_VERSION}; delete the folder and re-ingest to rebuild it"
        )
    terms: list[str] = json.loads((directory / manifest["vocab"]).read_text(encoding="utf-8"))
    live = np.load(directory / manifest["live"], allow_pickle=False)
    segments = [read_segment(directory / f"{name}.npz") for name in manifest["segments"]]
    if len(live) != sum(len(segment.ids) for segment in segments):
        raise ValueError(f"{manifest['live']} does not match the segments' row count")
    start = 0
    for segment in segments:
        segment.live = live[start : start + len(segment.ids)].copy()
        start += len(segment.ids)
    return manifest, terms, segments


def _tier(live_rows: int) -> int:
    """Return the size class of a segment: segments in one tier differ in size by < ``_FANOUT``x."""
    tier = 0
    while live_rows >= _FANOUT:
        live_rows //= _FANOUT
        tier += 1
    return tier


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file under a temporary name, flush it to disk, then rename it into place."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with temporary.open("wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
