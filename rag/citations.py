"""What the model wrote: citation markers, refusals, and guards for streamed text from small models."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.language import content_terms

__all__ = [
    "MarkerFilter",
    "drop_loop",
    "is_looping",
    "is_refusal",
    "most_shared_passage",
    "overlap_citations",
    "resolve_citations",
]

_CITATION = re.compile(
    r"(?P<space>[ \t]?)[\[【]\s*(?:(?:sources?|来源|资料|参考)\s*)?"
    r"(?P<nums>\d{1,3}(?:\s*(?:[,，、;；]|-|–)\s*\d{1,3})*)\s*[\]】]",
    re.IGNORECASE,
)
_REPEATED_MARKER = re.compile(r"(\[\d+\])(?:\s*\1)+")
_REFUSAL_PHRASES = (
    "无法回答",
    "无法从",
    "没有提供足够",
    "没有足够",
    "未提及",
    "没有提到",
    "没有提及",
    "不知道",
    "无法确定",
    "未找到",
    "没有找到",
    "不包含",
    "没有相关信息",
    "抱歉",
    "can't answer",
    "cannot answer",
    "unable to answer",
    "not mentioned",
    "don't know",
    "do not know",
    "no information",
    "not provided",
    "does not contain",
    "doesn't contain",
    "do not contain",
    "don't contain",
    "cannot find",
    "can't find",
    "not enough information",
    "no relevant information",
    "does not mention",
    "doesn't mention",
    "do not mention",
    "don't mention",
    "i'm sorry",
    "i am sorry",
)
_REFUSAL_WINDOW = 60  # a refusal phrase this early in the answer means the model declined
_HELD_MARKER_CHARS = 16
_MIN_LOOP_PERIOD = 3
_MIN_LOOP_CHARS = 30
_MAX_LOOP_PERIOD = 60


def resolve_citations(text: str, n_sources: int) -> tuple[str, list[int]]:
    """Normalise citation markers and drop those that point at no source.

    Accepts ``[1]``, ``[1,2]``, ``[1、2]``, ``[1-3]``, ``[1][2]``, ``【1】`` and ``[Source 1]``; each becomes
    ``[1]``-style markers, and numbers outside ``1..n_sources`` are removed (with the space before them).

    Args:
        text: the model's answer.
        n_sources: how many sources the prompt numbered.

    Returns:
        The cleaned text (not stripped, so streamed pieces keep their spacing) and the cited source
        numbers in order of first appearance.
    """
    cited: list[int] = []

    def replace(match: re.Match[str]) -> str:
        numbers: list[int] = []
        for part in re.split(r"\s*(?:[,，、;；])\s*", match["nums"]):
            bounds = re.split(r"\s*[-–]\s*", part)
            low, high = int(bounds[0]), int(bounds[-1])
            span = range(low, high + 1) if 0 < high - low < 10 else (low, high) if low != high else (low,)
            numbers.extend(span)
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= n_sources]
        for n in valid:
            if n not in cited:
                cited.append(n)
        if not valid:
            return ""
        return match["space"] + "".join(f"[{n}]" for n in valid)

    # Small models sometimes repeat a marker ("[1] [1] [1]"); one is enough.
    return _REPEATED_MARKER.sub(r"\1", _CITATION.sub(replace, text)), cited


def is_refusal(text: str) -> bool:
    """Whether the model declined to answer: a refusal phrase in its opening words."""
    opening = text.strip().lower()[:_REFUSAL_WINDOW]
    return not opening or any(phrase in opening for phrase in _REFUSAL_PHRASES)


def overlap_citations(answer: str, passages: Sequence[str], *, min_overlap: float = 0.3) -> list[int]:
    """Sources (1-based) the answer draws on, judged by shared words and CJK bigrams.

    Used when the model wrote no citation marker: the passage sharing the largest fraction of the
    answer's terms is cited if that fraction is at least ``min_overlap``, together with any passage
    scoring at least 80% of it.
    """
    answer_terms = content_terms(answer)
    if not answer_terms or not passages:
        return []
    fractions = [len(answer_terms & content_terms(passage)) / len(answer_terms) for passage in passages]
    best = max(fractions)
    if best < min_overlap:
        return []
    return [i + 1 for i, fraction in enumerate(fractions) if fraction >= 0.8 * best]


def _loop_period(text: str) -> int:
    """Length of a unit repeated at the end of ``text``: at least 3 times, over at least 30 characters."""
    for period in range(_MIN_LOOP_PERIOD, _MAX_LOOP_PERIOD + 1):
        repeats = max(3, -(-_MIN_LOOP_CHARS // period))
        if len(text) < repeats * period:
            break
        unit = text[-period:]
        if unit.strip() and text.endswith(unit * repeats):
            return period
    return 0


def is_looping(text: str) -> bool:
    """Whether a small model has fallen into repeating itself (greedy decoding does this)."""
    return _loop_period(text) > 0


def drop_loop(text: str) -> str:
    """``text`` with its repeated tail kept once."""
    period = _loop_period(text)
    if period:
        unit = text[-period:]
        while text.endswith(unit + unit):
            text = text[:-period]
    return text


class MarkerFilter:
    """Removes citation markers that point at no source from streamed text, holding back half-seen ones."""

    def __init__(self, n_sources: int) -> None:
        """Filter for an answer whose prompt numbered ``n_sources`` sources."""
        self._n = n_sources
        self._held = ""

    def feed(self, text: str) -> str:
        """Add a streamed piece; return the text that is safe to show now."""
        self._held += text
        opening = max(self._held.rfind("["), self._held.rfind("【"))
        pending = opening >= 0 and not any(c in self._held[opening:] for c in "]】")
        if pending and len(self._held) - opening <= _HELD_MARKER_CHARS:
            start = opening - 1 if opening > 0 and self._held[opening - 1] in " \t" else opening
            ready, self._held = self._held[:start], self._held[start:]
        else:
            ready, self._held = self._held, ""
        # A space may precede a marker that turns out to be invalid; emit it with what follows it.
        stripped = ready.rstrip(" \t")
        ready, self._held = stripped, ready[len(stripped) :] + self._held
        return self._clean(ready)

    def flush(self) -> str:
        """Return what is still held back once the stream has ended."""
        ready, self._held = self._held, ""
        return self._clean(ready)

    def _clean(self, text: str) -> str:
        return resolve_citations(text, self._n)[0] if text else ""


def most_shared_passage(answer: str, passages: Sequence[str]) -> int:
    """Number (1-based) of the passage that shares most terms with ``answer``; the best-ranked on ties."""
    terms = content_terms(answer)
    shared = [len(terms & content_terms(passage)) for passage in passages]
    return 1 + max(range(len(passages)), key=lambda i: (shared[i], -i))
