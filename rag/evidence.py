"""The evidence gate: which retrieved passages count as evidence, and so whether the model is called at all.

e5 similarities are compressed: on the ChatGLM docs unrelated Chinese questions reach 0.86 while a few
answerable English ones score 0.85 with most of their words in the passage. So a passage counts when its
score reaches ``answer_threshold``, or comes within ``lexical_margin`` of it while holding
``min_query_coverage`` of the query's terms, or, written in another language than the question, within
``cross_language_margin`` of it (no word can be shared across languages, so only the embedding speaks).
Passages far below the best one (``relative_margin``) are dropped too.
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
    lexical_margin: float = 0.045
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
        for doc in documents:
            score = _score(doc)
            if score is None or self._counts(query, language, doc.page_content, score):
                kept.append((doc, score))
        best = max((score for _, score in kept if score is not None), default=None)
        if best is not None:
            kept = [
                (doc, score) for doc, score in kept if score is None or score >= best - self.relative_margin
            ]
        return [doc for doc, _ in kept[: self.max_sources]]

    def _counts(self, query: str, language: str, text: str, score: float) -> bool:
        if score >= self.answer_threshold:
            return True
        if detect_language(text) != language and score >= self.answer_threshold - self.cross_language_margin:
            return True
        return (
            score >= self.answer_threshold - self.lexical_margin
            and query_coverage(query, text) >= self.min_query_coverage
        )


def _score(doc: Document) -> float | None:
    value = doc.metadata.get("score")
    return None if value is None else float(value)
