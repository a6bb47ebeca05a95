"""``kb feedback export``: the answers users rated in the web page, as a ``kb eval`` question file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kb.cli.context import cli_context
from kbtypes.errors import KBError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Ratings users gave answers in the web page.")


@app.command("export")
def export(
    ctx: typer.Context,
    kb: Annotated[str | None, typer.Option("--kb", help="Only this knowledge base (default: all).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the JSONL here (default: stdout).")
    ] = None,
) -> None:
    """Write rated answers as evaluation cases (JSONL for `kb eval`); a summary goes to stderr."""
    from kb.feedback import cases_from_ratings
    from kb.workspace import Workspace

    context = cli_context(ctx)
    try:
        store = Workspace.conversations_of(context.settings)
        try:
            export = cases_from_ratings(store.rated(kb))
        finally:
            store.close()
    except KBError as e:
        raise context.fail(e) from e
    lines = [
        case.model_dump_json(exclude_defaults=True) + "\n" for case in [*export.ready, *export.to_finish]
    ]
    if out is None:
        sys.stdout.writelines(lines)
    else:
        out.write_text("".join(lines), encoding="utf-8")
    context.errors.print(
        f"{len(export.ready)} cases from answers rated up, {len(export.to_finish)} from answers rated down "
        "(group feedback-down: add their keys or answer facts before relying on them)",
        highlight=False,
    )
    for question in export.to_review:
        context.errors.print(f"rated down with no source shown, review by hand: {question}", highlight=False)
