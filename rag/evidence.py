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
``focus_threshold`` (by the same rules, without the English margin), those are shown; when none does, only the best passage is.
Measured on the tuning questions, the 0.5B model given three middling passages answered from the wrong
one (a heading, a neighbouring table row) more often than when given the single best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.language import detect_language, query_coverage

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["EvidenceGate"]


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
        kept: list[tuple[Document, float | None]] = []
        language = detect_language(query)
        gate = self.answer_threshold - (self.english_margin if language == "en" else 0.0)
        for doc in documents:
            score = _score(doc)
            if score is None or self._counts(query, language, doc.page_content, score, gate):
                kept.append((doc, score))
        strong = [
            (doc, score)
            for doc, score in kept
            if score is None or self._counts(query, language, doc.page_content, score, self.focus_threshold)
        ]
        kept = strong or kept[:1]
        best = max((score for _, score in kept if score is not None), default=None)
        if best is not None:
            kept = [
                (doc, score) for doc, score in kept if score is None or score >= best - self.relative_margin
            ]
        return [doc for doc, _ in kept[: self.max_sources]]

    def _counts(self, query: str, language: str, text: str, score: float, threshold: float) -> bool:
        if score >= threshold:
            return True
        if detect_language(text) != language and score >= threshold - self.cross_language_margin:
            return True
        return (
            score >= threshold - self.lexical_margin
            and query_coverage(query, text) >= self.min_query_coverage
        )


def _score(doc: Document) -> float | None:
    value = doc.metadata.get("score")
    return None if value is None else float(value)
