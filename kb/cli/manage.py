"""``kb list``, ``kb docs``, ``kb remove``, ``kb delete``: look after knowledge bases and their documents."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from kb.cli.context import KbOption, cli_context
from kbtypes.errors import KBError

__all__ = ["delete", "docs", "list_kbs", "remove"]


def list_kbs(ctx: typer.Context) -> None:
    """List knowledge bases."""
    context = cli_context(ctx)
    try:
        workspace = context.workspace()
        table = Table("name", "documents", "chunks", "embedding model", "description")
        for name in workspace.names():
            info = workspace.open(name).info()
            table.add_row(
                info.name, str(info.documents), str(info.chunks), info.embedding_model, info.description
            )
    except KBError as e:
        raise context.fail(e) from e
    context.console.print(table)


def docs(ctx: typer.Context, kb: KbOption = "default") -> None:
    """List the documents of a knowledge base."""
    context = cli_context(ctx)
    try:
        documents = context.workspace().open(kb).documents()
    except KBError as e:
        raise context.fail(e) from e
    table = Table("doc id", "source", "chunks", "status", "error")
    for doc in documents:
        table.add_row(doc.doc_id, doc.source, str(doc.chunks), doc.status, doc.error)
    context.console.print(table)


def remove(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Source path (as `kb docs` shows it) or doc id.")],
    kb: KbOption = "default",
) -> None:
    """Remove one document and its vectors."""
    context = cli_context(ctx)
    try:
        knowledge_base = context.workspace().open(kb)
        knowledge_base.remove(source)
    except KBError as e:
        raise context.fail(e) from e
    context.console.print(f"removed {source}", highlight=False)
    # Searches already ignore it; Chroma deletes rows slowly (seconds for a large file), so say what we wait for.
    with context.errors.status(
        "deleting its rows from the vector store (Ctrl-C is safe: the next run finishes)"
    ):
        knowledge_base.wait_for_purge()


def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Knowledge base to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a whole knowledge base."""
    context = cli_context(ctx)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete knowledge base {name!r} and its index?", abort=True)
    try:
        context.workspace().delete(name)
    except KBError as e:
        raise context.fail(e) from e
    context.console.print(f"deleted {name}", highlight=False)
