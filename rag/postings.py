"""Immutable term-frequency segments behind the lexical index: building, merging and file format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    import numpy.typing as npt

__all__ = ["Segment", "build_segment", "merge_segments", "read_segment", "write_segment"]

_MAX_TF = int(np.iinfo(np.uint16).max)


@dataclass(eq=False)
class Segment:
    """Term frequencies of some chunks, immutable except for the mask of live rows.

    Postings are stored by term (compressed sparse columns): rows ``rows[indptr[t]:indptr[t + 1]]``
    contain term ``t``, ascending, ``tfs`` times each. Terms are ids in the owning index's
    vocabulary; terms added to it after the segment was built have no postings here. Chunk metadata
    is stored once per distinct value in ``metas``, which ``meta_index`` points into per row.
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
        """Return the rows containing a term and the term's frequency in each."""
        if term + 1 >= len(self.indptr):
            return self.rows[:0], self.tfs[:0]
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.rows[start:end], self.tfs[start:end]


def build_segment(
    name: str,
    ids: list[str],
    tokens: Sequence[Sequence[str]],
    metadatas: Sequence[Mapping[str, Any]],
    vocab: dict[str, int],
) -> Segment:
    """Build a segment from tokenised chunks, adding their new terms to ``vocab``.

    Args:
        name: File stem of the segment, unique within its index.
        ids: Chunk ids, distinct.
        tokens: Tokens of each chunk.
        metadatas: JSON-serialisable metadata of each chunk.
        vocab: Term to term id; extended in place.

    Returns:
        A segment whose rows are the chunks in the given order, all live.

    Raises:
        ValueError: A metadata value is not JSON-serialisable.
    """
    table: dict[str, int] = {}
    metas: list[dict[str, Any]] = []
    meta_index = np.empty(len(ids), dtype=np.int32)
    for position, metadata in enumerate(metadatas):
        try:
            key = json.dumps(metadata, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"metadata of chunk {ids[position]!r} is not JSON-serialisable: {e}") from e
        if key not in table:
            table[key] = len(metas)
            # Kept as it reads back from disk, so filters see the same values before and after a save.
            metas.append(json.loads(key))
        meta_index[position] = table[key]
    term_ids = np.fromiter(
        (vocab.setdefault(token, len(vocab)) for token in chain.from_iterable(tokens)), dtype=np.int64
    )
    doc_len = np.fromiter((len(doc) for doc in tokens), dtype=np.int32, count=len(tokens))
    rows = np.repeat(np.arange(len(ids), dtype=np.int64), doc_len)
    # Sorting (term, row) pairs once both counts repeats and yields term-major order.
    width = max(len(ids), 1)
    keys, tfs = np.unique(term_ids * width + rows, return_counts=True)
    return _from_postings(name, len(vocab), ids, keys // width, keys % width, tfs, doc_len, meta_index, metas)


def merge_segments(name: str, segments: Sequence[Segment], n_terms: int) -> Segment:
    """Combine the live rows of segments, in order, into one new segment.

    Args:
        name: File stem of the new segment.
        segments: Segments to combine; they are left unchanged.
        n_terms: Current vocabulary size of the index.

    Returns:
        A segment holding only the live rows, all live.
    """
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
    all_cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    # Each segment's postings are sorted by (term, row) and row numbers grow from one segment to the
    # next, so a stable sort by term alone restores (term, row) order.
    order = np.argsort(all_cols, kind="stable")
    return _from_postings(
        name,
        n_terms,
        ids,
        all_cols[order],
        np.concatenate(rows)[order] if rows else np.zeros(0, np.int64),
        np.concatenate(tfs)[order] if tfs else np.zeros(0, np.uint16),
        np.concatenate(doc_lens) if doc_lens else np.zeros(0, np.int32),
        np.concatenate(meta_indexes) if meta_indexes else np.zeros(0, np.int32),
        metas,
    )


def write_segment(segment: Segment, file: BinaryIO) -> None:
    """Write a segment, without its live mask, as an uncompressed ``.npz`` archive."""
    side = json.dumps({"ids": segment.ids, "metas": segment.metas}, ensure_ascii=False).encode()
    np.savez(
        file,
        indptr=segment.indptr,
        rows=segment.rows,
        tfs=segment.tfs,
        doc_len=segment.doc_len,
        meta_index=segment.meta_index,
        side=np.frombuffer(side, dtype=np.uint8),
    )


def read_segment(path: Path) -> Segment:
    """Read a segment written by ``write_segment``, with all rows live.

    Raises:
        OSError: The file cannot be read.
        ValueError: The file is not a consistent segment (``zipfile.BadZipFile`` and
            ``KeyError`` are possible too); the caller reports the index as unreadable.
    """
    with np.load(path, allow_pickle=False) as arrays:
        side = json.loads(arrays["side"].tobytes())
        segment = Segment(
            name=path.stem,
            indptr=arrays["indptr"],
            rows=arrays["rows"],
            tfs=arrays["tfs"],
            doc_len=arrays["doc_len"],
            ids=side["ids"],
            meta_index=arrays["meta_index"],
            metas=side["metas"],
            live=np.ones(len(side["ids"]), dtype=np.bool_),
        )
    if not len(segment.ids) == len(segment.doc_len) == len(segment.meta_index):
        raise ValueError(f"segment {path.name} is inconsistent")
    return segment


def _from_postings(
    name: str,
    n_terms: int,
    ids: list[str],
    cols: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    tfs: npt.NDArray[Any],
    doc_len: npt.NDArray[np.int32],
    meta_index: npt.NDArray[np.int32],
    metas: list[dict[str, Any]],
) -> Segment:
    """Make a segment from postings sorted by term, then row."""
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=n_terms), out=indptr[1:])
    return Segment(
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
