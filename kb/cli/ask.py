"""``kb ask`` and ``kb chat``: answers with their sources, streamed to the terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from kb.cli.context import CliContext, KbOption, ModeOption, cli_context
from kbtypes.errors import KBError
from kbtypes.retrieval import RetrievalOptions

if TYPE_CHECKING:
    from collections.abc import Generator

    from kbtypes.answer import Answer, AnswerEvent, Source

__all__ = ["ask", "chat"]

LlmOption = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="Chat model: default (0.5B, fast) | quality (1.5B, needs the quality extra) | gguf:PATH | chatglm:PATH | openai:URL#MODEL (overrides settings).",
    ),
]
_EXIT_WORDS = frozenset({"stop", "exit", "quit"})


def _sources_table(sources: list[Source]) -> Table:
    table = Table("#", "score", "source", "page", "text", title="sources", title_justify="left")
    for source in sources:
        snippet = " ".join(source.text.split())[:90]
        page = "" if source.page is None else str(source.page)
        table.add_row(f"[{source.n}]", f"{source.score:.3f}", source.source, page, snippet)
    return table


def _render(context: CliContext, events: Generator[AnswerEvent, None, None]) -> Answer:
    """Print the sources table, then tokens as they come, then the quotes and any warning about the answer."""
    from kbtypes.answer import SourcesEvent, TokenEvent

    console = context.console
    answer: Answer | None = None
    streamed: list[str] = []
    try:
        for event in events:
            if isinstance(event, SourcesEvent):
                if event.sources:
                    console.print(_sources_table(event.sources))
            elif isinstance(event, TokenEvent):
                streamed.append(event.text)
                sys.stdout.write(event.text)
                sys.stdout.flush()
            else:
                answer = event
    finally:
        events.close()
    assert answer is not None  # events always end with the Answer
    if streamed:
        sys.stdout.write("\n")
    if "".join(streamed).strip() != answer.answer:
        if answer.mode == "extractive" or (answer.refused and answer.unsupported):
            instead = "quoting the best-matching source" if answer.mode == "extractive" else "refusing"
            console.print(
                f"the model's reply failed the checks; {instead} instead:", style="yellow", highlight=False
            )
        console.print(answer.answer, highlight=False, markup=False)
    _print_quotes(console, answer)
    if not answer.grounded:
        console.print(
            "warning: not found in any source: " + ", ".join(answer.unsupported),
            style="bold yellow",
            highlight=False,
        )
    return answer


def _print_quotes(console: Console, answer: Answer) -> None:
    for source in answer.sources:
        if not source.cited:
            continue
        where = source.source + ("" if source.page is None else f" p.{source.page}")
        console.print(f"[{source.n}] {where}", style="dim", highlight=False, markup=False)
        if source.quote:
            quote = " ".join(source.quote.split())
            console.print(f"    “{quote}”", style="dim", highlight=False, markup=False)


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question, in any language.")],
    kb: KbOption = "default",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the Answer as JSON instead of streaming.")
    ] = False,
    llm: LlmOption = None,
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve.", min=1, max=50)] = None,
    mode: ModeOption = None,
) -> None:
    """Answer a question from a knowledge base, citing the sources; streams on a terminal."""
    context = cli_context(ctx).with_llm(llm)
    options = RetrievalOptions(k=k, mode=mode)
    try:
        knowledge_base = context.workspace(chat=True).open(kb)
        if as_json:
            answer = knowledge_base.ask(question, options=options)
            sys.stdout.write(answer.model_dump_json() + "\n")
            return
        _render(context, knowledge_base.ask_events(question, options=options))
    except KBError as e:
        raise context.fail(e) from e


def chat(ctx: typer.Context, kb: KbOption = "default", llm: LlmOption = None) -> None:
    """Talk to a knowledge base: follow-up questions keep the context.

    Type ``clear`` to forget the conversation and ``stop`` or ``exit`` to leave; Ctrl-C stops the current
    answer without leaving.
    """
    context = cli_context(ctx).with_llm(llm)
    console = context.console
    try:
        knowledge_base = context.workspace(chat=True).open(kb)
    except KBError as e:
        raise context.fail(e) from e
    turns = context.settings.server.session_turns
    history: list[tuple[str, str]] = []
    console.print(f"kb chat on {kb!r}: 'clear' resets the conversation, 'stop' leaves.", highlight=False)
    while True:
        try:
            question = console.input("\n[bold]>[/bold] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question:
            continue
        if question.lower() in _EXIT_WORDS:
            return
        if question.lower() == "clear":
            history.clear()
            console.print("conversation cleared", style="dim")
            continue
        try:
            answer = _render(context, knowledge_base.ask_events(question, history=history))
        except KeyboardInterrupt:
            # _render closed the event stream, which stops the model; stay in the session.
            console.print("\n[stopped]", style="dim", highlight=False)
            continue
        except KBError as e:
            context.errors.print(f"[red]error:[/red] {e}", highlight=False)
            continue
        if not answer.refused:
            history.append((question, answer.answer))
            del history[:-turns]
