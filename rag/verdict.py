"""The checked answer: what the user gets once the model's reply has been judged against the sources.

A refusal while a source clearly holds the answer, figures no cited source holds, or, for a question that
asks for a figure, a figure the sentence answering it does not state (``rag.quotes.contradicts``), and an
answer with none of the words that sentence adds to the question (``rag.quotes.ignores``: a list's
lead-in given for the sentence that names the packages), give way to the extractive answer (the
best-supported source sentence, quoted and cited) when that sentence covers enough of the question. Otherwise a reply whose every figure is found in no source is refused: the
question was related enough to pass the evidence gate, but the sources do not answer it, and the model
made the answer up (a vocabulary size, a training time). A reply that failed twice is answered
extractively or refused; an answer without markers is attributed to the passages it draws on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kbtypes.answer import AnswerMode
from rag.citations import is_refusal, most_shared_passage, overlap_citations
from rag.grounding import unsupported_claims
from rag.language import Language, detect_language
from rag.prompt import refusal_text
from rag.quotes import ExtractiveAnswer, contradicts, extractive_answer, ignores

__all__ = ["Verdict", "judge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """The answer text, the passages it cites (1-based), and how it came about."""

    answer: str
    cited: list[int]
    mode: AnswerMode
    refused: bool
    unsupported: list[str]


def judge(
    answer: str,
    cited: list[int],
    mode: AnswerMode,
    *,
    question: str,
    chunks: Sequence[str],
    also: Sequence[str] = (),
    passages: Sequence[str],
    language: Language,
    min_quote_coverage: float,
    extract: ExtractiveAnswer | None = None,
) -> Verdict:
    """Settle the final answer from the model's (already marker-resolved) reply.

    Args:
        answer: the reply text without markers.
        cited: the passages its markers cite.
        mode: ``generated``, ``retried`` or ``extractive`` (both replies were degenerate).
        question: the user's question.
        also: its other wordings (the translation), for the extractive answer.
        chunks: full texts of the shown sources, in marker order.
        passages: the (trimmed) passages the model saw, in marker order.
        language: the question's language, for a refusal.
        min_quote_coverage: share of the question's terms the best sentence must hold to replace the reply.
        extract: the extractive answer over ``chunks``, when the caller already built it.

    Returns:
        The verdict.
    """
    refused = mode != "extractive" and is_refusal(answer)
    # A figure must stand in the sources the answer cites (all shown ones when it cites none): "7 GB [3]"
    # over a [3] that never says 7 is as wrong as a figure found nowhere.
    backing = [chunks[n - 1] for n in cited] or list(chunks)
    unsupported = [] if refused or mode == "extractive" else unsupported_claims(answer, backing, question)
    if extract is None:
        extract = extractive_answer(question, chunks, also)
    # The sentence that answers the question, to check a reply that stated no unsupported figure against.
    answering = (
        extract.quote
        if extract is not None
        and mode != "extractive"
        and not (refused or unsupported)
        and detect_language(extract.quote.text) == language  # "6.2 billion" never matches "62 亿"
        else None
    )
    reasons = [
        reason
        for reason, found in (
            ("refusal", refused),
            ("unsupported", bool(unsupported)),
            ("contradicted", answering is not None and contradicts(answer, question, answering)),
            ("ignored", answering is not None and ignores(answer, answering, question)),
        )
        if found
    ]
    if reasons and extract is not None and extract.quote.coverage >= min_quote_coverage:
        reason = reasons[0]
        logger.info("extractive answer reason=%s", reason)
        mode, refused, unsupported = "extractive", False, []
    if mode == "extractive":
        if extract is None:
            return Verdict(refusal_text(language), [], "refused", True, [])
        return Verdict(extract.text, [extract.n], "extractive", False, [])
    if refused:
        return Verdict(answer, [], "refused", True, [])
    # Invented, not misattributed: no shown source at all holds any of the figures the question does not.
    invented = unsupported_claims(answer, chunks, question) if unsupported and cited else unsupported
    if invented and len(invented) == len(unsupported_claims(answer, [], question)):
        logger.info("refused reason=invented_figures claims=%d", len(invented))
        return Verdict(refusal_text(language), [], "refused", True, invented)
    if not cited:
        # No marker: the passages whose wording it reuses; failing that (an English answer from a
        # Chinese passage shares few words), the passage it shares most with, best-ranked on ties.
        cited = overlap_citations(answer, passages) or [most_shared_passage(answer, passages)]
    return Verdict(answer, cited, mode, False, unsupported)
