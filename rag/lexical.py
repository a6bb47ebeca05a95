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
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from kb.errors import ConfigError
from rag.tokenize import TOKENIZER_VERSION, tokenize

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["LexicalIndex"]

logger = logging.getLogger(__name__)

_FORMAT = 1
_MANIFEST = "manifest.json"
# Only names of these shapes are ever deleted from the index folder.
_OWNED_FILE = re.compile(r"(seg-\d+\.npz|live-\d+\.npz|vocab-\d+\.json|\..+\.tmp-\d+)")
# Segments whose live row counts share a power of this base form a tier; a full tier is merged into one.
_FANOUT = 8
_MAX_TF = np.iinfo(np.uint16).max


@dataclass(eq=False)
class _Segment:
    """An immutable term-frequency matrix over some chunks, plus a mutable mask of live rows.

    Postings are stored column-wise (CSC): rows ``rows[indptr[t]:indptr[t + 1]]`` contain term ``t``
    with frequencies ``tfs[...]``, rows ascending.
    """

    name: str
    indptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.uint16]
    doc_len: npt.NDArray[np.int32]
    ids: list[str]
    meta_index: npt.NDArray[np.int32]
    metas: list[dict[str, Any]]
    live: npt.NDArray[np.bool_]

    def postings(self, term: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]]:
        if term + 1 >= len(self.indptr):
            return self.rows[:0], self.tfs[:0]
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.rows[start:end], self.tfs[start:end]


@dataclass(frozen=True)
class _Layout:
    """Per-row arrays over all segments, rebuilt after any change; search reads only this."""

    offsets: npt.NDArray[np.int64]
    live: npt.NDArray[np.bool_]
    norm: npt.NDArray[np.float64]  # k1 * (1 - b + b * doc_len / avgdl)
    n_live: int


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
        ConfigError: The folder holds an index that cannot be read or was built with another
            tokenizer version; delete the folder and re-ingest.
    """

    def __init__(self, directory: Path, *, k1: float = 1.5, b: float = 0.75) -> None:
        self._directory = directory
        self._k1 = k1
        self._b = b
        self._lock = threading.RLock()
        self._segments: list[_Segment] = []
        self._locations: dict[str, tuple[_Segment, int]] = {}
        self._vocab: dict[str, int] = {}
        self._layout: _Layout | None = None
        self._generation = 0
        self._next_segment = 0
        self._saved_segments: set[str] = set()
        self._saved_vocab: tuple[str, int] | None = None  # file name, term count
        if (directory / _MANIFEST).exists():
            self._load()

    def __len__(self) -> int:
        with self._lock:
            return len(self._locations)

    def ids(self) -> set[str]:
        """Return the ids of all chunks in the index."""
        with self._lock:
            return set(self._locations)

    def upsert(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Add chunks, replacing any chunk that already has one of the ids.

        Args:
            ids: Chunk ids; if one repeats, its last text and metadata win.
            texts: Chunk texts, aligned with ``ids``.
            metadatas: JSON-serialisable metadata per chunk, aligned with ``ids``; ``search`` filters on it.

        Raises:
            ValueError: The sequences differ in length or a metadata value is not JSON-serialisable.
        """
        if not len(ids) == len(texts) == len(metadatas):
            raise ValueError(f"upsert needs aligned sequences, got ids={len(ids)} texts={len(texts)} "
                             f"metadatas={len(metadatas)}")
        if not ids:
            return
        last = {chunk_id: position for position, chunk_id in enumerate(ids)}
        tokens = [tokenize(texts[position]) for position in last.values()]
        metas = [metadatas[position] for position in last.values()]
        with self._lock:
            self._tombstone(last)
            segment = self._build(list(last), tokens, metas)
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
        query_terms = Counter(tokenize(query))
        if k <= 0 or not query_terms:
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
            results: list[tuple[str, float]] = []
            accepted: dict[tuple[int, int], bool] = {}
            for row in self._best_first(candidates, scores, k):
                segment_index = int(np.searchsorted(layout.offsets, row, side="right")) - 1
                segment = self._segments[segment_index]
                local = int(row - layout.offsets[segment_index])
                if where is not None:
                    key = (segment_index, int(segment.meta_index[local]))
                    if key not in accepted:
                        accepted[key] = bool(where(segment.metas[key[1]]))
                    if not accepted[key]:
                        continue
                results.append((segment.ids[local], float(scores[row])))
                if len(results) == k:
                    break
            return results

    def save(self) -> None:
        """Write the index to its folder atomically and delete files the new state no longer uses."""
        with self._lock:
            self._directory.mkdir(parents=True, exist_ok=True)
            generation = self._generation + 1
            for segment in self._segments:
                if segment.name not in self._saved_segments:
                    _write_atomically(self._directory / f"{segment.name}.npz", _segment_writer(segment))
            if self._saved_vocab is None or self._saved_vocab[1] != len(self._vocab):
                vocab_name = f"vocab-{generation:06d}.json"
                vocab_bytes = json.dumps(list(self._vocab), ensure_ascii=False).encode()
                _write_atomically(self._directory / vocab_name, lambda file: file.write(vocab_bytes))
                self._saved_vocab = (vocab_name, len(self._vocab))
            live_name = f"live-{generation:06d}.npz"
            masks = {segment.name: segment.live for segment in self._segments}
            _write_atomically(self._directory / live_name, lambda file: np.savez(file, **masks))
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
            self._saved_segments = set(masks)
            keep = {*(f"{name}.npz" for name in masks), live_name, self._saved_vocab[0], _MANIFEST}
            for path in self._directory.iterdir():
                if path.name not in keep and _OWNED_FILE.fullmatch(path.name):
                    path.unlink(missing_ok=True)
        logger.debug("lexical saved directory=%s generation=%d chunks=%d", self._directory, generation, len(self))

    def _accumulate(self, term: int, count: int, layout: _Layout, scores: npt.NDArray[np.float64]) -> None:
        postings = [(offset, *segment.postings(term)) for offset, segment in zip(layout.offsets, self._segments)]
        df = sum(int(np.count_nonzero(layout.live[offset + rows])) for offset, rows, _ in postings)
        if df == 0:
            return
        idf = math.log1p((layout.n_live - df + 0.5) / (df + 0.5))
        weight = count * idf * (self._k1 + 1.0)
        for offset, rows, tfs in postings:
            if len(rows):
                at = offset + rows
                tf = tfs.astype(np.float64)
                scores[at] += weight * tf / (tf + layout.norm[at])

    @staticmethod
    def _best_first(candidates: npt.NDArray[np.intp], scores: npt.NDArray[np.float64], k: int) -> Iterator[int]:
        """Yield candidate rows by descending score (ties by row), sorting only as far as consumed."""
        head = max(4 * k, 256)
        if len(candidates) > head:
            split = np.argpartition(-scores[candidates], head - 1)
            blocks = [candidates[split[:head]], candidates[split[head:]]]
        else:
            blocks = [candidates]
        for block in blocks:
            yield from (int(row) for row in block[np.lexsort((block, -scores[block]))])

    def _current_layout(self) -> _Layout:
        if self._layout is None:
            sizes = [len(segment.ids) for segment in self._segments]
            offsets = np.cumsum([0, *sizes], dtype=np.int64)[:-1]
            live = np.concatenate([s.live for s in self._segments]) if sizes else np.zeros(0, np.bool_)
            doc_len = np.concatenate([s.doc_len for s in self._segments]) if sizes else np.zeros(0, np.int32)
            n_live = int(np.count_nonzero(live))
            avgdl = max(float(doc_len[live].sum()) / n_live, 1.0) if n_live else 1.0
            norm = self._k1 * (1.0 - self._b + self._b * doc_len.astype(np.float64) / avgdl)
            self._layout = _Layout(offsets, live, norm, n_live)
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

    def _build(self, ids: list[str], tokens: list[list[str]], metadatas: list[Mapping[str, Any]]) -> _Segment:
        vocab = self._vocab
        term_ids = np.fromiter(
            (vocab.setdefault(token, len(vocab)) for token in chain.from_iterable(tokens)), dtype=np.int64
        )
        doc_len = np.fromiter((len(doc) for doc in tokens), dtype=np.int32, count=len(tokens))
        rows = np.repeat(np.arange(len(ids), dtype=np.int64), doc_len)
        keys, tfs = np.unique(term_ids * max(len(ids), 1) + rows, return_counts=True)
        table: dict[str, int] = {}
        metas: list[dict[str, Any]] = []
        meta_index = np.empty(len(ids), dtype=np.int32)
        for position, metadata in enumerate(metadatas):
            try:
                key = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
            except TypeError as e:
                raise ValueError(f"metadata of chunk {ids[position]!r} is not JSON-serialisable: {e}") from e
            if key not in table:
                table[key] = len(metas)
                # Stored as it reads back from disk, so filters see the same values before and after a save.
                metas.append(json.loads(key))
            meta_index[position] = table[key]
        return self._segment(ids, keys // max(len(ids), 1), keys % max(len(ids), 1), tfs, doc_len, meta_index, metas)

    def _segment(
        self,
        ids: list[str],
        cols: npt.NDArray[np.int64],
        rows: npt.NDArray[np.int64],
        tfs: npt.NDArray[np.integer[Any]],
        doc_len: npt.NDArray[np.int32],
        meta_index: npt.NDArray[np.int32],
        metas: list[dict[str, Any]],
    ) -> _Segment:
        """Make a segment from postings sorted by column, then row."""
        indptr = np.zeros(len(self._vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=len(self._vocab)), out=indptr[1:])
        name = f"seg-{self._next_segment:06d}"
        self._next_segment += 1
        return _Segment(
            name=name,
            indptr=indptr,
            rows=rows.astype(np.int32),
            tfs=np.minimum(tfs, _MAX_TF).astype(np.uint16),
            doc_len=doc_len,
            ids=ids,
            meta_index=meta_index,
            metas=metas,
            live=np.ones(len(ids), dtype=np.bool_),
        )

    def _register(self, segments: list[_Segment]) -> None:
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
            sparse = [s for s, live in zip(self._segments, live_counts) if live * 2 < len(s.ids)]
            if sparse:
                self._replace(sparse[:1], self._merge(sparse[:1]))
                continue
            tiers: dict[int, list[_Segment]] = {}
            for segment, live in zip(self._segments, live_counts):
                tiers.setdefault(_tier(live), []).append(segment)
            full = [tier for tier in tiers.values() if len(tier) >= _FANOUT]
            if not full:
                return
            self._replace(full[0], self._merge(full[0]))

    def _replace(self, old: list[_Segment], new: _Segment | None) -> None:
        position = self._segments.index(old[0])
        self._segments = [segment for segment in self._segments if all(segment is not o for o in old)]
        if new is not None:
            self._segments.insert(position, new)
            self._register([new])
        self._layout = None
        logger.debug("lexical merged segments=%d into=%s", len(old), new.name if new else None)

    def _merge(self, segments: list[_Segment]) -> _Segment:
        """Combine the live rows of segments, in order, into one new segment."""
        cols: list[npt.NDArray[np.int64]] = []
        rows: list[npt.NDArray[np.int64]] = []
        tfs: list[npt.NDArray[np.uint16]] = []
        doc_lens: list[npt.NDArray[np.int32]] = []
        meta_indexes: list[npt.NDArray[np.int32]] = []
        ids: list[str] = []
        table: dict[str, int] = {}
        metas: list[dict[str, Any]] = []
        for segment in segments:
            renumber = np.cumsum(segment.live, dtype=np.int64) - 1 + len(ids)
            segment_cols = np.repeat(np.arange(len(segment.indptr) - 1, dtype=np.int64), np.diff(segment.indptr))
            keep = segment.live[segment.rows]
            cols.append(segment_cols[keep])
            rows.append(renumber[segment.rows[keep]])
            tfs.append(segment.tfs[keep])
            meta_map = np.empty(len(segment.metas), dtype=np.int32)
            for position, metadata in enumerate(segment.metas):
                key = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
                if key not in table:
                    table[key] = len(metas)
                    metas.append(metadata)
                meta_map[position] = table[key]
            live_rows = np.flatnonzero(segment.live)
            doc_lens.append(segment.doc_len[live_rows])
            meta_indexes.append(meta_map[segment.meta_index[live_rows]])
            ids.extend(segment.ids[row] for row in live_rows.tolist())
        all_cols = np.concatenate(cols)
        # Each segment's postings are sorted by (column, row) and row numbers grow from segment to
        # segment, so a stable sort by column alone restores (column, row) order.
        order = np.argsort(all_cols, kind="stable")
        return self._segment(
            ids,
            all_cols[order],
            np.concatenate(rows)[order],
            np.concatenate(tfs)[order],
            np.concatenate(doc_lens),
            np.concatenate(meta_indexes),
            metas,
        )

    def _load(self) -> None:
        directory = self._directory
        try:
            manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("format") != _FORMAT or manifest.get("tokenizer") != TOKENIZER_VERSION:
                raise ConfigError(
                    f"lexical index at {directory} has format={manifest.get('format')} "
                    f"tokenizer={manifest.get('tokenizer')}, this kb needs format={_FORMAT} "
                    f"tokenizer={TOKENIZER_VERSION}; delete the folder and re-ingest to rebuild it"
                )
            terms = json.loads((directory / manifest["vocab"]).read_text(encoding="utf-8"))
            with np.load(directory / manifest["live"], allow_pickle=False) as live_masks:
                live = {name: live_masks[name] for name in manifest["segments"]}
            segments = [_read_segment(directory, name, live[name]) for name in manifest["segments"]]
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
            raise ConfigError(
                f"lexical index at {directory} is unreadable ({e}); delete the folder and re-ingest to rebuild it"
            ) from e
        self._vocab = {term: position for position, term in enumerate(terms)}
        self._segments = segments
        self._register(segments)
        self._generation = int(manifest["generation"])
        self._next_segment = int(manifest["next_segment"])
        self._saved_segments = set(manifest["segments"])
        self._saved_vocab = (manifest["vocab"], len(terms))
        logger.debug("lexical loaded directory=%s chunks=%d segments=%d", directory, len(self), len(segments))


def _tier(live_rows: int) -> int:
    """Return the size class of a segment: segments in one tier differ in size by < ``_FANOUT``x."""
    tier = 0
    while live_rows >= _FANOUT:
        live_rows //= _FANOUT
        tier += 1
    return tier


def _segment_writer(segment: _Segment) -> Callable[[BinaryIO], None]:
    side = json.dumps({"ids": segment.ids, "metas": segment.metas}, ensure_ascii=False).encode()

    def write(file: BinaryIO) -> None:
        np.savez(
            file,
            indptr=segment.indptr,
            rows=segment.rows,
            tfs=segment.tfs,
            doc_len=segment.doc_len,
            meta_index=segment.meta_index,
            side=np.frombuffer(side, dtype=np.uint8),
        )

    return write


def _read_segment(directory: Path, name: str, live: npt.NDArray[np.bool_]) -> _Segment:
    with np.load(directory / f"{name}.npz", allow_pickle=False) as arrays:
        side = json.loads(arrays["side"].tobytes())
        segment = _Segment(
            name=name,
            indptr=arrays["indptr"],
            rows=arrays["rows"],
            tfs=arrays["tfs"],
            doc_len=arrays["doc_len"],
            ids=side["ids"],
            meta_index=arrays["meta_index"],
            metas=side["metas"],
            live=live,
        )
    if len(segment.live) != len(segment.ids):
        raise ValueError(f"segment {name} has {len(segment.ids)} rows but its live mask has {len(segment.live)}")
    return segment


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
