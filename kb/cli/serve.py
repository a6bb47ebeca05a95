"""``kb serve``: the HTTP API and web page (the server package is imported only by this command)."""

from __future__ import annotations

from typing import Annotated

import typer

from kb.cli.context import cli_context

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to bind (default from settings).")] = None,
) -> None:
    """Start the HTTP API (FastAPI + uvicorn): knowledge bases, uploads, answers, OpenAI-compatible chat."""
    from server import run

    context = cli_context(ctx)
    settings = context.settings
    if host is not None or port is not None:
        server = settings.server.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        )
        settings = settings.model_copy(update={"server": server})
    run(settings, verbose=context.verbose)
