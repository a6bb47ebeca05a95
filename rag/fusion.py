"""Merging ranked result lists and dropping near-duplicate chunks from them."""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

__all__ = ["iter_distinct", "reciprocal_rank_fusion"]

logger = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
_SHINGLE = 4
_NON_WORD = re.compile(r"[\W_]+")


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, weights: Sequence[float], k: int = 60
) -> list[tuple[str, float]]:
    """Fuse several rankings of ids with weighted reciprocal rank fusion.

    An id at 1-based rank ``r`` in ranking ``i`` earns ``weights[i] / (k + r)``; its fused score is
    the sum over the rankings that contain it. Repeats of an id within one ranking count once, at
    their best rank. Ties keep the order in which ids first appear, reading the rankings in order.

    Args:
        rankings: Id lists, each best first (e.g. dense and BM25 results).
        weights: One non-negative weight per ranking.
        k: Rank offset; larger values flatten the difference between top and lower ranks.

    Returns:
        ``(id, fused score)`` for every id in any ranking, best first.

    Raises:
        ValueError: ``weights`` does not match ``rankings`` in length, a weight is negative, or ``k``
            is negative.
    """
    if len(weights) != len(rankings):
        raise ValueError(f"need one weight per ranking, got rankings={len(rankings)} weights={len(weights)}")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"weights must be non-negative, got {list(weights)}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    # sorted() is stable, so equal scores keep first-appearance order.
    return sorted(scores.items(), key=lambda pair: -pair[1])


def iter_distinct(
    ranked: Iterable[tuple[str, float]], texts: Mapping[str, str], *, threshold: float = 0.9
) -> Iterator[tuple[str, float]]:
    """Yield results in order, dropping those whose text nearly repeats a better-ranked result's text.

    Lazy, so a caller that needs the first few results compares only those (every result is compared with
    every one kept before it).

    Two texts are near duplicates when they are equal after Unicode normalisation, casefolding and
    whitespace collapsing, or when the Jaccard similarity of their sets of character 4-grams is at
    least ``threshold``, punctuation aside (character shingles work the same for Chinese and English
    and cost a fraction of word segmentation). The better-ranked one is kept. Results whose id has no
    entry in ``texts`` are kept, since they cannot be compared.

    Args:
        ranked: ``(id, score)`` pairs, best first.
        texts: Text of each id.
        threshold: Shingle-set Jaccard similarity at or above which two texts count as duplicates.

    Returns:
        The pairs of ``ranked`` that survive, in their original order, one at a time.

    Raises:
        ValueError: ``threshold`` is not in ``(0, 1]``.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return _distinct(ranked, texts, threshold)


def _distinct(
    ranked: Iterable[tuple[str, float]], texts: Mapping[str, str], threshold: float
) -> Iterator[tuple[str, float]]:
    kept_texts: set[str] = set()
    kept_shingles: list[frozenset[str]] = []
    for item, score in ranked:
        text = texts.get(item)
        if text is None:
            yield item, score
            continue
        normalised = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
        shingles = _shingles(_NON_WORD.sub(" ", normalised))
        if normalised in kept_texts or any(_jaccard(shingles, other) >= threshold for other in kept_shingles):
            logger.debug("dropped near-duplicate id=%s", item)
            continue
        kept_texts.add(normalised)
        kept_shingles.append(shingles)
        yield item, score


def _shingles(text: str) -> frozenset[str]:
    if len(text) <= _SHINGLE:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i : i + _SHINGLE] for i in range(len(text) - _SHINGLE + 1))


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)
