"""What every command shares, carried in typer's context: the settings and how loud to be."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

if TYPE_CHECKING:
    from kb.settings import Settings
    from kb.workspace import Workspace
    from kbtypes.errors import KBError

__all__ = ["CliContext", "KbOption", "ModeOption", "cli_context"]

KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name.")]
ModeOption = Annotated[
    Literal["dense", "bm25", "hybrid"] | None,
    typer.Option("--mode", help="Retrieval: dense, bm25 or hybrid."),
]


@dataclass(frozen=True)
class CliContext:
    """Built once by the ``kb`` callback; commands read it from ``ctx.obj`` and never change it."""

    settings: Settings
    verbose: bool = False
    console: Console = field(default_factory=Console)
    errors: Console = field(default_factory=lambda: Console(stderr=True))

    def with_llm(self, spec: str | None) -> CliContext:
        """The same context with another chat model (``--llm``), or this one when ``spec`` is empty."""
        if not spec:
            return self
        llm = self.settings.llm.model_copy(update={"spec": spec})
        return replace(self, settings=self.settings.model_copy(update={"llm": llm}))

    def workspace(self, *, chat: bool = False) -> Workspace:
        """The workspace these settings describe; the chat model is only wired in when ``chat``."""
        from kb.workspace import Workspace

        return Workspace.from_settings(self.settings, load_chat_model=chat)

    def fail(self, error: KBError) -> typer.Exit:
        """Print ``error`` as one line and return the exit to raise (status 1)."""
        self.errors.print(f"[red]error:[/red] {error}", highlight=False)
        return typer.Exit(1)


def cli_context(ctx: typer.Context) -> CliContext:
    """The ``CliContext`` the callback stored (a command run on its own gets one from the environment)."""
    obj = ctx.find_object(CliContext)
    if obj is None:
        from kb.settings import Settings

        obj = CliContext(settings=Settings())
        ctx.obj = obj
    return obj
