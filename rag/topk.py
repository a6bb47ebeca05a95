"""Picking the k best-scored rows of a score vector, best first, optionally under a metadata filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["top_rows", "top_rows_where"]


def top_rows(
    candidates: npt.NDArray[np.intp], scores: npt.NDArray[np.float64], k: int
) -> npt.NDArray[np.intp]:
    """Return the ``k`` best-scoring candidate rows, best first, ties by row."""
    if len(candidates) > k:
        candidates = candidates[scores[candidates] >= _kth_largest(scores[candidates], k)]
    return candidates[np.lexsort((candidates, -scores[candidates]))][:k]


def _kth_largest(values: npt.NDArray[np.float64], k: int) -> float:
    return float(np.partition(values, len(values) - k)[len(values) - k])


def top_rows_where(
    candidates: npt.NDArray[np.intp],
    scores: npt.NDArray[np.float64],
    k: int,
    where: Callable[[Mapping[str, Any]], bool],
    row_meta: npt.NDArray[np.intp],
    metas: Sequence[Mapping[str, Any]],
) -> npt.NDArray[np.intp]:
    """Return the ``k`` best candidate rows whose metadata ``where`` accepts, best first.

    Candidates are examined best first in blocks, and ``where`` is called once per distinct
    metadata value met, so a filter over per-file metadata costs one call per file, not per chunk.
    """
    verdicts = np.zeros(len(metas), dtype=np.int8)  # 0 not asked yet, 1 accepted, -1 rejected
    accepted: list[npt.NDArray[np.intp]] = []
    found = 0
    for block in _best_first_blocks(candidates, scores, head=max(8 * k, 512)):
        block_metas = row_meta[block]
        for meta in np.unique(block_metas[verdicts[block_metas] == 0]).tolist():
            verdicts[meta] = 1 if where(metas[meta]) else -1
        accepted.append(block[verdicts[block_metas] == 1])
        found += len(accepted[-1])
        if found >= k:
            break
    return np.concatenate(accepted)[:k]


def _best_first_blocks(
    candidates: npt.NDArray[np.intp], scores: npt.NDArray[np.float64], *, head: int
) -> Iterator[npt.NDArray[np.intp]]:
    """Yield all candidates best first (ties by row) in blocks; the rest is sorted only if asked for.

    The first block holds the ``head`` best and everything tied with the last of them, so every later
    row scores strictly lower.
    """
    if len(candidates) <= head:
        yield top_rows(candidates, scores, len(candidates))
        return
    first = scores[candidates] >= _kth_largest(scores[candidates], head)
    yield top_rows(candidates[first], scores, int(np.count_nonzero(first)))
    rest = candidates[~first]
    if len(rest):
        yield from np.array_split(top_rows(rest, scores, len(rest)), max(1, len(rest) // 4096))
