"""The checked answer: what the user gets once the model's reply has been judged against the sources.

A refusal while a source clearly holds the answer, figures no shown source holds, or, for a question that
asks for a figure, a figure the sentence answering it does not state (``rag.quotes.contradicts``), and an
answer with none of the words that sentence adds to the question (``rag.quotes.ignores``: a list's
lead-in given for the sentence that names the packages), give way to the extractive answer (the
best-supported source sentence, quoted and cited) when that sentence covers enough of the question.
Otherwise a reply whose every figure is found in no source is refused: the question was related enough
to pass the evidence gate, but the sources do not answer it, and the model made the answer up (a
vocabulary size, a training time). So is a reply whose figures stand only in lines unrelated to the
question (``rag.quotes.strays``: the upload row's 50 given for an embedding batch size no source
states), unless the best-supported sentence's figures are related. A figure cited to the wrong shown
source is cited to the right one too. A reply that failed twice is answered extractively or refused; an
answer without markers is attributed to the passages it draws on.
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
from rag.quotes import ExtractiveAnswer, contradicts, covered, extractive_answer, ignores, strays

__all__ = ["Verdict", "judge"]

logger = logging.getLogger(__name__)

# A reply that passed every other check is replaced for leaving out what the answering sentence says
# only when that sentence holds half the question's words: on the tuning half, one holding 0.4 of them
# ("the use of ChatGLM-6B model weights is subject to the Model License" for "env var to skip the LFS
# weights when cloning chatglm-6b") replaced a right reply.
_IGNORED_COVERAGE = 0.5


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
    unsupported: list[str] = []
    if not (refused or mode == "extractive"):
        cited, unsupported = _attribute(answer, cited, chunks, question)
    if extract is None:
        extract = extractive_answer(question, chunks, also)
    checked = mode != "extractive" and not (refused or unsupported)
    wordings = (question, *also)
    stray = checked and strays(answer, wordings, chunks)
    # The sentence that answers the question, to check a reply that stated no unsupported figure against.
    answering = (
        extract.quote
        if extract is not None
        and checked
        and detect_language(extract.quote.text) == language  # "6.2 billion" never matches "62 亿"
        else None
    )
    reasons = [
        reason
        for reason, found in (
            ("refusal", refused),
            ("unsupported", bool(unsupported)),
            ("contradicted", answering is not None and contradicts(answer, question, answering)),
            ("stray_figures", stray),
            (
                "ignored",  # words are compared, so only an answer written in the sentence's language
                answering is not None
                # of the question itself: a translation that kept one word ("OpenMP 。") covers all of it
                and covered(question, answering.text) >= _IGNORED_COVERAGE
                and detect_language(answer) == language
                and ignores(answer, answering, question),
            ),
        )
        if found
    ]
    # A quote whose figures stray as well answers no better: the sources do not say.
    if (
        reasons
        and extract is not None
        and extract.quote.coverage >= min_quote_coverage
        and not (stray and strays(extract.text, wordings, chunks))
    ):
        logger.info("extractive answer reason=%s", reasons[0])
        mode, refused, unsupported = "extractive", False, []
    elif stray:
        logger.info("refused reason=stray_figures")
        return Verdict(refusal_text(language), [], "refused", True, [])
    if mode == "extractive":
        if extract is None:
            return Verdict(refusal_text(language), [], "refused", True, [])
        return Verdict(extract.text, [extract.n], "extractive", False, [])
    if refused:
        return Verdict(answer, [], "refused", True, [])
    # Invented: no shown source at all holds any of the figures the question does not.
    if unsupported and len(unsupported) == len(unsupported_claims(answer, [], question)):
        logger.info("refused reason=invented_figures claims=%d", len(unsupported))
        return Verdict(refusal_text(language), [], "refused", True, unsupported)
    if not cited:
        # No marker: the passages whose wording it reuses; failing that (an English answer from a
        # Chinese passage shares few words), the passage it shares most with, best-ranked on ties.
        cited = overlap_citations(answer, passages) or [most_shared_passage(answer, passages)]
    return Verdict(answer, cited, mode, False, unsupported)


def _attribute(
    answer: str, cited: list[int], chunks: Sequence[str], question: str
) -> tuple[list[int], list[str]]:
    """The passages the answer cites, widened to those its figures stand in; the figures found in none.

    The 0.5B model sometimes cites one shown source for figures another one states ("分别是 128 和 2e-2 [2]"
    with both in [1]): they were cited wrongly, not made up, so the source that holds them joins the
    citations. Whether it is the right figure for the question is the contradiction check's to find.
    """
    if not cited:
        return cited, unsupported_claims(answer, chunks, question)
    missing = set(unsupported_claims(answer, [chunks[n - 1] for n in cited], question))
    if not missing:
        return cited, []
    holders = [
        n
        for n, chunk in enumerate(chunks, start=1)
        if n not in cited and missing - set(unsupported_claims(answer, [chunk], question))
    ]
    return sorted({*cited, *holders}), unsupported_claims(answer, chunks, question)
