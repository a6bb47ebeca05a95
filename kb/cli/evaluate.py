"""The ``kb eval`` command: score retrieval (and optionally answers) of a knowledge base on a question file."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer
from rich.console import Console
from rich.table import Table

from kb.cli.context import cli_context
from kbtypes.errors import ConfigError, KBError
from kbtypes.retrieval import RetrievalMode

if TYPE_CHECKING:
    from kb.evaluation import EvalCase, EvalReport
    from kb.knowledge_base import KnowledgeBase

__all__ = ["eval_command", "render_reports"]

_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)


def _modes(requested: Sequence[str] | None) -> list[RetrievalMode]:
    if not requested:
        return list(_MODES)
    chosen: list[RetrievalMode] = []
    for name in requested:
        mode = next((m for m in _MODES if m == name), None)
        if mode is None:
            raise ConfigError(f"unknown retrieval mode {name!r}; choose from {', '.join(_MODES)}")
        if mode not in chosen:
            chosen.append(mode)
    return chosen


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def render_reports(console: Console, reports: Sequence[EvalReport], *, title: str = "retrieval") -> None:
    """Print one metrics table with a column per report, then each report's failed cases.

    Args:
        console: where to print.
        reports: one report per mode (or per embedder and mode), shown side by side.
        title: table title.
    """
    if not reports:
        return
    first = reports[0]
    table = Table(title=f"{title}: {first.cases} questions ({first.answerable} answerable), k={first.k}")
    table.add_column("metric")
    for report in reports:
        table.add_column(report.mode, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("hit@1", [_pct(r.hit_at_1) for r in reports]),
        ("hit@3", [_pct(r.hit_at_3) for r in reports]),
        ("hit@5", [_pct(r.hit_at_5) for r in reports]),
        ("MRR", [_pct(r.mrr) for r in reports]),
        ("passage hit@k", [_pct(r.passage_hit) for r in reports]),
        ("passage MRR", [_pct(r.passage_mrr) for r in reports]),
        ("search p50", [_ms(r.search_p50_ms) for r in reports]),
        ("search p95", [_ms(r.search_p95_ms) for r in reports]),
    ]
    if any(r.refusal_accuracy is not None for r in reports):
        rows += [
            ("all-keys hit", [_pct(r.all_keys_hit) for r in reports]),
            ("any-key hit", [_pct(r.any_key_hit) for r in reports]),
            ("answer key rate", [_pct(r.answer_key_rate) for r in reports]),
            ("grounded rate", [_pct(r.grounded_rate) for r in reports]),
            ("degenerate replies", [_count(r.degenerate) for r in reports]),
            ("extractive answers", [_count(r.extractive) for r in reports]),
            ("wrong refusals", [_count(r.wrong_refusals) for r in reports]),
            ("refusal accuracy", [_pct(r.refusal_accuracy) for r in reports]),
            ("TTFT p50", [_ms(r.ttft_p50_ms) for r in reports]),
            ("TTFT p95", [_ms(r.ttft_p95_ms) for r in reports]),
            ("answer p50", [_ms(r.answer_p50_ms) for r in reports]),
            ("answer p95", [_ms(r.answer_p95_ms) for r in reports]),
        ]
    for name, cells in rows:
        table.add_row(name, *cells)
    console.print(table)
    for report in reports:
        failed = report.failures
        if not failed:
            continue
        detail = Table(title=f"{report.mode}: {len(failed)} failed", show_lines=False)
        for column in ("line", "question", "expected", "retrieved (top 3)", "why"):
            detail.add_column(column, overflow="fold")
        for result in failed:
            detail.add_row(
                str(result.case.line),
                result.case.q,
                ", ".join(result.case.sources) or "(unanswerable)",
                ", ".join(result.retrieved[:3]),
                "; ".join(result.failures),
            )
        console.print(detail)


def eval_command(
    ctx: typer.Context,
    qa_file: Annotated[Path, typer.Argument(help="JSONL file: one {q, sources, keys} object per line.")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name.")] = "default",
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="dense, bm25 or hybrid; repeat for several (default: all three)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Passages retrieved per question.", min=1, max=50)] = 5,
    answers: Annotated[
        bool, typer.Option("--answers", help="Also generate answers: keyword hits and refusals (slow).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    split: Annotated[
        str | None, typer.Option("--split", help="Only the cases of this split (tune or heldout).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", help="Only the cases whose answer sits in this kind of text (table, number, ...)."
        ),
    ] = None,
) -> None:
    """Measure hit@k, MRR and latency of a knowledge base on a question file, one column per mode."""
    from kb.evaluation import evaluate, load_cases

    context = cli_context(ctx)
    errors = context.errors
    try:
        modes = _modes(mode)
        cases: list[EvalCase] = load_cases(qa_file)
        for field, wanted in (("split", split), ("kind", kind)):
            if wanted:
                cases = [case for case in cases if getattr(case, field) == wanted]
                if not cases:
                    raise ConfigError(f"{qa_file} has no cases with {field} {wanted!r}")
        workspace = context.workspace(chat=answers)
        try:
            knowledge_base: KnowledgeBase = workspace.open(kb)
            reports = [evaluate(knowledge_base, cases, mode=m, k=k, answers=answers) for m in modes]
        finally:
            workspace.close()
    except KBError as e:
        errors.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    if as_json:
        payload = {"kb": kb, "file": str(qa_file), "reports": [r.model_dump(mode="json") for r in reports]}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    render_reports(context.console, reports, title=f"kb eval {kb}")
