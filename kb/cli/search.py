"""``kb search``: the passages that best match a query, without the chat model."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from kb.cli.context import KbOption, ModeOption, cli_context
from kbtypes.errors import KBError
from kbtypes.retrieval import RetrievalOptions

__all__ = ["search"]


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kb: KbOption = "default",
    k: Annotated[int, typer.Option("-k", help="Passages to return.", min=1, max=50)] = 5,
    mode: ModeOption = None,
    source: Annotated[str | None, typer.Option("--source", help="Only sources matching this glob.")] = None,
    file_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only these file types (pdf, md…).")
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Minimum cosine similarity.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the passages that best match a query."""
    context = cli_context(ctx)
    try:
        options = RetrievalOptions(
            k=k,
            mode=mode,
            score_threshold=threshold,
            source_glob=source,
            file_types=tuple(file_type) if file_type else None,
        )
        hits = context.workspace().open(kb).search(query, options)
    except KBError as e:
        raise context.fail(e) from e
    if as_json:
        results = [hit.model_dump(include={"source", "page", "chunk_id", "score", "text"}) for hit in hits]
        sys.stdout.write(json.dumps({"query": query, "results": results}, ensure_ascii=False) + "\n")
        return
    table = Table("#", "score", "source", "page", "text")
    for n, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:120]
        table.add_row(
            str(n), f"{hit.score:.3f}", hit.source, "" if hit.page is None else str(hit.page), snippet
        )
    context.console.print(table)
