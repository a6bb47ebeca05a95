"""The evidence gate: which retrieved passages count as evidence, and so whether the model is called at all.

The gate only keeps the model from answering questions the knowledge base has nothing to say about
(the weather, a recipe); whether a related question is *answered* by the passages is settled after the
model wrote its reply (``rag.verdict``: figures no source holds turn into a refusal).

e5 similarities are compressed and run on a scale of their own per language: on the ChatGLM and kb
docs, unrelated Chinese questions reach 0.86 and unrelated English ones 0.84, while answerable English
questions score as low as 0.83. So a passage counts when its score reaches ``answer_threshold``
(``english_margin`` lower for an English question), or comes within ``lexical_margin`` of that while
holding ``min_query_coverage`` of the query's terms, or, written in another language than the question,
within ``cross_language_margin`` of it (no word can be shared across languages, so only the embedding
speaks). Passages far below the best one (``relative_margin``) are dropped too.

How many passages the model sees depends on how strong the evidence is: when some reach
``focus_threshold`` (by the same rules, without the English margin), those are shown; when none does,
only one is. A weaker passage whose best sentence holds more of the query than the first one shown comes
second (on the tuning half that answered a question the intro passage alone had the model refuse).
Measured on the tuning questions, the 0.5B model given three middling passages answered from the wrong
one (a heading, a neighbouring table row) more often than when given the single best.
"Best" is the passage whose best sentence holds most of the query's words, not the best-ranked one:
on the tuning half that put the answering passage first for 31 of 56 questions instead of 26.

With ``select_across`` the gate judges the results of several searches (the question and its
translation, ``rag.translation``), each document against the query that found it; a document both
searches found is judged by the query under which it counts most (the Chinese translation scores a
Chinese table row far above the English question does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from rag.language import detect_language, query_coverage
from rag.quotes import best_quote

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["EvidenceGate"]


class _Judged(NamedTuple):
    """A passage that counts as evidence, as the query that judged it saw it."""

    doc: Document
    score: float | None
    strong: bool
    coverage: float  # share of the query's words its best sentence holds


@dataclass(frozen=True)
class EvidenceGate:
    """Thresholds that turn retrieval scores into evidence; see the module docstring."""

    answer_threshold: float = 0.0
    focus_threshold: float = 0.0
    english_margin: float = 0.0
    lexical_margin: float = 0.02
    min_query_coverage: float = 0.5
    relative_margin: float = 0.05
    cross_language_margin: float = 0.07
    max_sources: int = 3

    def select(self, query: str, documents: Sequence[Document]) -> list[Document]:
        """Documents that count as evidence, best first, at most ``max_sources``.

        Documents without a ``score`` in their metadata (retrievers other than ``KbRetriever``) pass.
        """
        return self.select_across([(query, documents)])

    def select_across(self, searches: Sequence[tuple[str, Sequence[Document]]]) -> list[Document]:
        """Like ``select``, over the results of several queries (the question and its translation).

        Each document is judged against the query that found it; one both found, against the query under
        which it counts most. When the best passage is written in the question's language, passages in
        the other language are dropped unless the question itself scores them ``focus_threshold``.
        """
        judged: dict[str, _Judged] = {}
        for query, doc in _interleave(searches):
            score = _score(doc)
            language = detect_language(query)
            gate = self.answer_threshold - (self.english_margin if language == "en" else 0.0)
            if score is None or self._counts(query, language, doc.page_content, score, gate):
                strong = score is None or self._counts(
                    query, language, doc.page_content, score, self.focus_threshold
                )
                entry = _Judged(doc, score, strong, _sentence_coverage(query, doc.page_content))
                key = _key(doc)
                # Found by both searches: the judgment that ranks it higher stands.
                if key not in judged or _rank(entry) < _rank(judged[key]):
                    judged[key] = entry
        kept = list(judged.values())
        asked_scores = {_key(doc): _score(doc) or 0.0 for doc in (searches[0][1] if searches else [])}
        # Strong passages first; among equals, the one whose best sentence says most of what was asked:
        # it is the one shown when the evidence is weak, and the one a small model answers from.
        kept.sort(key=_rank)
        chosen = [entry for entry in kept if entry.strong] or kept[:1]
        closest = max(kept, key=lambda entry: entry.coverage, default=None)
        if closest is not None and closest not in chosen and closest.coverage > chosen[0].coverage:
            # It scored lower, but its sentence says more of what was asked than the first passage's
            # (the settings row "KB_RETRIEVAL__K · Default: 4" under the guide's intro): it comes second.
            chosen.insert(1, closest)
        asked_in = detect_language(searches[0][0]) if searches else None
        if chosen and _speaks(chosen[0].doc, asked_in):
            # The best passage is in the question's language: others in the other language (the same
            # README in translation) only pulled the 0.5B model's answer into that language, unless
            # the question itself scores them at the focus threshold across languages (a settings
            # block holding the figures asked for, which the Chinese paragraph beside it only names).
            chosen = [
                entry
                for entry in chosen
                if _speaks(entry.doc, asked_in)
                or asked_scores.get(_key(entry.doc), 0.0) >= self.focus_threshold
            ]
        best = max((entry.score for entry in chosen if entry.score is not None), default=None)
        if best is not None:
            chosen = [
                entry for entry in chosen if entry.score is None or entry.score >= best - self.relative_margin
            ]
        return [entry.doc for entry in chosen[: self.max_sources]]

    def _counts(self, query: str, language: str, text: str, score: float, threshold: float) -> bool:
        if score >= threshold:
            return True
        if detect_language(text) != language and score >= threshold - self.cross_language_margin:
            return True
        return (
            score >= threshold - self.lexical_margin
            and query_coverage(query, text) >= self.min_query_coverage
        )


def _interleave(searches: Sequence[tuple[str, Sequence[Document]]]) -> list[tuple[str, Document]]:
    """Each search's ``(query, document)`` pairs in rank order, alternating between searches."""
    longest = max((len(documents) for _, documents in searches), default=0)
    return [
        (query, documents[rank])
        for rank in range(longest)
        for query, documents in searches
        if rank < len(documents)
    ]


def _key(doc: Document) -> str:
    return str(doc.metadata.get("id") or doc.id or doc.page_content)


def _rank(entry: _Judged) -> tuple[bool, float]:
    """Sort key of a judged passage: strong ones first, then by how much of the query its sentence holds."""
    return (not entry.strong, -entry.coverage)


def _speaks(doc: Document, language: str | None) -> bool:
    return detect_language(doc.page_content) == language


def _sentence_coverage(query: str, text: str) -> float:
    quote = best_quote(text, query, informative=True)
    return quote.coverage if quote is not None else 0.0


def _score(doc: Document) -> float | None:
    value = doc.metadata.get("score")
    return None if value is None else float(value)
