"""The ``kb`` command line: thin commands over the facade, sharing settings through typer's context.

Only typer, rich and kb's settings load before a command runs; each command imports what it needs, so
``kb --help`` starts fast and ``kb search`` never loads the chat model or the document parsers.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kb.cli import ask, evaluate, feedback, ingest, manage, search, serve
from kb.cli.context import CliContext
from kb.logging_setup import configure_logging
from kb.offline import apply_offline_environment

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Local knowledge-base question answering.")


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    """Index your documents and ask questions about them, offline."""
    from kb.settings import Settings

    configure_logging(verbose=verbose)
    apply_offline_environment()
    ctx.obj = CliContext(settings=Settings(), verbose=verbose)


app.command()(ingest.ingest)
app.command("list")(manage.list_kbs)
app.command()(manage.docs)
app.command()(manage.remove)
app.command()(manage.delete)
app.command()(search.search)
app.command()(serve.serve)
app.command("ask")(ask.ask)
app.command("chat")(ask.chat)
app.command("eval")(evaluate.eval_command)
app.add_typer(feedback.app, name="feedback")
