"""Retrieval and answer evaluation of a knowledge base against a JSONL question set.

The question file's format is :mod:`kb.eval_cases`.

Metrics, all over the answerable cases unless said otherwise:

* source rank: 1-based rank of the first retrieved chunk whose source is one of the expected ones;
  hit@1/3/5 and MRR are computed from it (a miss contributes 0 to MRR).
* passage rank: rank of the first retrieved chunk from an expected source that contains every key.
* answer metrics (``answers=True``), over a case's ``answer`` facts (its ``keys`` when it has none; a fact
  may list alternatives as ``"6 GB|6G"``, compared after NFKC, lowercasing and removing whitespace):
  all-keys hit (every fact in the answer), any-key hit, key rate (mean share), grounded rate, degenerate
  first replies, extractive fallbacks, wrong refusals, refusal accuracy (every case: answerable questions
  answered, unanswerable refused) and time to first token.
* latency: wall time of each search call (and of each ``ask`` call), p50 and p95.

Cases may carry ``split`` ("tune" or "heldout"): tune the answer stage on one half, report on the other.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from kb.eval_cases import EvalCase, load_cases
from kbtypes.errors import ConfigError
from kbtypes.retrieval import RetrievalOptions

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase
    from kbtypes.results import SearchHit
    from kbtypes.retrieval import RetrievalMode

__all__ = ["CaseResult", "EvalCase", "EvalReport", "evaluate", "facts_found", "load_cases", "percentile"]


logger = logging.getLogger(__name__)


class CaseResult(BaseModel):
    """What retrieval (and optionally the answer) did for one case."""

    case: EvalCase
    retrieved: list[str] = Field(description="Sources of the retrieved chunks, best first.")
    source_rank: int | None = Field(
        default=None, description="Rank of the first chunk from an expected source."
    )
    passage_rank: int | None = Field(
        default=None, description="Rank of the first expected-source chunk holding all keys."
    )
    search_ms: float = Field(description="Wall time of the search call.")
    answer: str | None = Field(default=None, description="Generated answer, when answers were evaluated.")
    refused: bool | None = Field(
        default=None, description="Whether the model refused, when answers were evaluated."
    )
    answer_key_rate: float | None = Field(default=None, description="Share of keys found in the answer.")
    answer_ms: float | None = Field(default=None, description="Wall time of the ask call.")
    ttft_ms: float | None = Field(default=None, description="Time to the first answer token.")
    mode: str | None = Field(
        default=None, description="How the answer came about (generated, extractive, ...)."
    )
    grounded: bool | None = Field(
        default=None, description="Whether every figure of the answer is in a source."
    )
    degenerate: str | None = Field(
        default=None, description="Why the model's first reply was rejected, if it was."
    )
    failures: list[str] = Field(
        default_factory=list, description="Why this case counts as failed; empty = passed."
    )


class EvalReport(BaseModel):
    """Aggregate metrics of one retrieval mode over a question set."""

    mode: str
    k: int
    cases: int
    answerable: int
    unanswerable: int
    hit_at_1: float
    hit_at_3: float
    hit_at_5: float
    mrr: float
    passage_hit: float = Field(description="Share of answerable cases with an all-keys passage in the top k.")
    passage_mrr: float
    answer_key_rate: float | None = None
    all_keys_hit: float | None = Field(default=None, description="Share of answerable cases with every fact.")
    any_key_hit: float | None = Field(
        default=None, description="Share of answerable cases with at least one fact."
    )
    grounded_rate: float | None = Field(
        default=None, description="Share of given answers with no unsupported claim."
    )
    degenerate: int | None = Field(default=None, description="Answers whose first reply was degenerate.")
    extractive: int | None = Field(
        default=None, description="Answers quoted from a source instead of generated."
    )
    wrong_refusals: int | None = Field(default=None, description="Answerable cases that were refused.")
    refusal_accuracy: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    search_p50_ms: float
    search_p95_ms: float
    answer_p50_ms: float | None = None
    answer_p95_ms: float | None = None
    results: list[CaseResult]

    @property
    def failures(self) -> list[CaseResult]:
        """The cases that missed, in file order."""
        return [result for result in self.results if result.failures]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (0.0 for an empty sequence)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())


def facts_found(answer: str, facts: Sequence[str]) -> int:
    """How many of ``facts`` the answer states; a fact is found when one of its ``|`` alternatives is.

    Both sides are NFKC-normalised, lowercased and stripped of whitespace, so "6 GB" matches "6GB".
    """
    text = _squash(answer)
    return sum(1 for fact in facts if any(_squash(alt) and _squash(alt) in text for alt in fact.split("|")))


def _contains_all(text: str, keys: Sequence[str]) -> bool:
    folded = text.casefold()
    return all(key.casefold() in folded for key in keys)


def _ranks(case: EvalCase, hits: Sequence[SearchHit]) -> tuple[int | None, int | None]:
    expected = set(case.sources)
    source_rank = passage_rank = None
    for rank, hit in enumerate(hits, start=1):
        if hit.source not in expected:
            continue
        if source_rank is None:
            source_rank = rank
        if passage_rank is None and _contains_all(hit.text, case.keys):
            passage_rank = rank
            break
    return source_rank, passage_rank


def _score_case(
    kb: KnowledgeBase, case: EvalCase, *, mode: RetrievalMode, k: int, answers: bool
) -> CaseResult:
    started = time.perf_counter()
    hits = kb.search(case.q, RetrievalOptions(k=k, mode=mode))
    search_ms = (time.perf_counter() - started) * 1000.0
    source_rank, passage_rank = _ranks(case, hits) if case.answerable else (None, None)
    failures: list[str] = []
    if case.answerable:
        if source_rank is None:
            failures.append("no expected source retrieved")
        elif passage_rank is None:
            failures.append(f"expected source at rank {source_rank} but no retrieved chunk holds all keys")
    result = CaseResult(
        case=case,
        retrieved=[hit.source for hit in hits],
        source_rank=source_rank,
        passage_rank=passage_rank,
        search_ms=search_ms,
        failures=failures,
    )
    if answers:
        _answer_case(kb, result, mode=mode, k=k)
    return result


def _answer_case(kb: KnowledgeBase, result: CaseResult, *, mode: RetrievalMode, k: int) -> None:
    case = result.case
    started = time.perf_counter()
    reply = kb.ask(case.q, options=RetrievalOptions(k=k, mode=mode))
    result.answer_ms = (time.perf_counter() - started) * 1000.0
    result.answer = reply.answer
    result.refused = bool(reply.refused)
    result.mode = reply.mode
    result.grounded = reply.grounded
    result.degenerate = reply.degenerate
    if "first_token_s" in reply.timings:
        result.ttft_ms = reply.timings["first_token_s"] * 1000.0
    if case.answerable:
        if result.refused:
            result.failures.append("answerable question was refused")
        facts = case.answer or case.keys
        if facts:
            found = facts_found(reply.answer, facts)
            result.answer_key_rate = found / len(facts)
            if found < len(facts):
                result.failures.append(f"answer holds {found}/{len(facts)} facts")
    elif not result.refused:
        result.failures.append("unanswerable question was answered")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def evaluate(
    kb: KnowledgeBase,
    cases: Sequence[EvalCase],
    *,
    mode: RetrievalMode,
    k: int = 5,
    answers: bool = False,
) -> EvalReport:
    """Run every case through ``kb.search`` (and ``kb.ask`` with ``answers``) and aggregate the metrics.

    Hit@n for n above ``k`` can only count what the top ``k`` holds, so use ``k >= 5`` for hit@5.

    Args:
        kb: the knowledge base under test, already ingested.
        cases: questions, e.g. from ``load_cases``.
        mode: retrieval mode: dense, bm25 or hybrid.
        k: passages retrieved per question.
        answers: also generate answers and score keywords and refusals (loads the chat model).

    Returns:
        Metrics and the per-case results.

    Raises:
        ConfigError: ``k`` is not positive, there are no cases, or answers are asked of a kb without a chat model.
        ProviderUnavailable: with ``answers``, the chat model cannot be loaded or reached.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if not cases:
        raise ConfigError("no evaluation cases given")
    # One untimed search first: the embedder's and the store's first call load and warm up (seconds), and
    # the latency columns are meant to show steady-state queries.
    kb.search(cases[0].q, RetrievalOptions(k=k, mode=mode))
    results = [_score_case(kb, case, mode=mode, k=k, answers=answers) for case in cases]
    scored = [r for r in results if r.case.answerable]
    source_ranks = [r.source_rank for r in scored]
    passage_ranks = [r.passage_rank for r in scored]

    def hit_at(n: int) -> float:
        return _mean([1.0 if rank is not None and rank <= n else 0.0 for rank in source_ranks])

    def reciprocal(ranks: Sequence[int | None]) -> float:
        return _mean([1.0 / rank if rank is not None else 0.0 for rank in ranks])

    search_ms = [r.search_ms for r in results]
    answer_ms = [r.answer_ms for r in results if r.answer_ms is not None]
    key_rates = [r.answer_key_rate for r in scored if r.answer_key_rate is not None]
    refusals = [r for r in results if r.refused is not None]
    given = [r for r in results if r.refused is False]
    ttfts = [r.ttft_ms for r in results if r.ttft_ms is not None]
    report = EvalReport(
        mode=mode,
        k=k,
        cases=len(results),
        answerable=len(scored),
        unanswerable=len(results) - len(scored),
        hit_at_1=hit_at(1),
        hit_at_3=hit_at(3),
        hit_at_5=hit_at(5),
        mrr=reciprocal(source_ranks),
        passage_hit=_mean([1.0 if rank is not None else 0.0 for rank in passage_ranks]),
        passage_mrr=reciprocal(passage_ranks),
        answer_key_rate=_mean(key_rates) if answers and key_rates else None,
        all_keys_hit=_mean([1.0 if rate == 1.0 else 0.0 for rate in key_rates])
        if answers and key_rates
        else None,
        any_key_hit=_mean([1.0 if rate > 0.0 else 0.0 for rate in key_rates])
        if answers and key_rates
        else None,
        grounded_rate=_mean([1.0 if r.grounded else 0.0 for r in given]) if answers and given else None,
        degenerate=sum(1 for r in results if r.degenerate) if answers else None,
        extractive=sum(1 for r in results if r.mode == "extractive") if answers else None,
        wrong_refusals=sum(1 for r in scored if r.refused) if answers else None,
        ttft_p50_ms=percentile(ttfts, 50) if answers and ttfts else None,
        ttft_p95_ms=percentile(ttfts, 95) if answers and ttfts else None,
        refusal_accuracy=(
            _mean([1.0 if r.refused == (not r.case.answerable) else 0.0 for r in refusals])
            if answers
            else None
        ),
        search_p50_ms=percentile(search_ms, 50),
        search_p95_ms=percentile(search_ms, 95),
        answer_p50_ms=percentile(answer_ms, 50) if answers else None,
        answer_p95_ms=percentile(answer_ms, 95) if answers else None,
        results=results,
    )
    logger.info(
        "evaluated mode=%s cases=%d hit@5=%.3f mrr=%.3f failures=%d",
        mode,
        report.cases,
        report.hit_at_5,
        report.mrr,
        len(report.failures),
    )
    return report
