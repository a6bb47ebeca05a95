"""The ``kb`` command line: a thin shell over the facade (settings in, facade call, rendering out)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from kb.errors import KBError
from kb.knowledge_base import KnowledgeBase, Workspace
from kb.logging_setup import configure_logging
from kb.settings import Settings

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Local knowledge-base question answering.")
console = Console()
errors = Console(stderr=True)

KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name.")]
ModeOption = Annotated[
    Literal["dense", "bm25", "hybrid"] | None, typer.Option("--mode", help="Retrieval: dense, bm25 or hybrid.")
]


class _State:
    settings: Settings
    verbose: bool = False


state = _State()


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    """Index your documents and ask questions about them, offline."""
    configure_logging(verbose=verbose)
    state.settings = Settings()
    state.verbose = verbose


def _workspace(*, chat: bool = False) -> Workspace:
    return Workspace.from_settings(state.settings, load_chat_model=chat)


def _fail(error: KBError) -> typer.Exit:
    errors.print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(1)


class _Bar:
    """tqdm progress over files; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self._bar: tqdm[None] | None = None
        self._chunks = 0

    def start(self, files: int) -> None:
        self._bar = tqdm(total=files, unit="file", desc="ingest", disable=not sys.stderr.isatty(), leave=False)

    def file_done(self, source: str, chunks: int) -> None:
        self._chunks += chunks
        if self._bar is not None:
            self._bar.set_postfix(chunks=self._chunks, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Folders or files to index.", exists=True)],
    kb: KbOption = "default",
    delete: Annotated[bool, typer.Option("--delete/--no-delete", help="Drop files gone from the folder.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Index folders incrementally: new and changed files are (re)indexed, removed ones leave the index."""
    try:
        knowledge_base = _workspace().open(kb, create=True)
        totals: dict[str, list[object]] = {k: [] for k in ("added", "updated", "unchanged", "removed", "failed")}
        chunks = embedded = 0
        started = time.perf_counter()
        for path in paths:
            bar = _Bar()
            try:
                report = knowledge_base.ingest(path, delete_missing=delete, progress=bar)
            finally:
                bar.close()
            for key in ("added", "updated", "unchanged", "removed"):
                totals[key].extend(getattr(report, key))
            totals["failed"].extend({"source": f.source, "reason": f.reason} for f in report.failed)
            chunks += report.chunks_written
            embedded += report.chunks_embedded
        seconds = time.perf_counter() - started
    except KBError as e:
        raise _fail(e) from e
    except KeyboardInterrupt:
        errors.print("interrupted: the index is consistent; run the same command again to finish", highlight=False)
        raise typer.Exit(130) from None
    summary = {key: len(value) for key, value in totals.items()}
    if as_json:
        console.print_json(json.dumps({**summary, "failures": totals["failed"], "chunks": chunks,
                                       "embedded": embedded, "seconds": round(seconds, 2)}))
    else:
        console.print(
            f"added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
            f"removed {summary['removed']}, failed {summary['failed']}; "
            f"{chunks} chunks written ({embedded} embedded) in {seconds:.1f}s",
            highlight=False,
        )
        for failure in totals["failed"]:
            assert isinstance(failure, dict)
            errors.print(f"failed: {failure['source']}: {failure['reason']}", highlight=False, markup=False)
    if totals["failed"]:
        raise typer.Exit(1)


@app.command("list")
def list_kbs() -> None:
    """List knowledge bases."""
    try:
        workspace = _workspace()
        table = Table("name", "documents", "chunks", "embedding model", "description")
        for name in workspace.names():
            info = workspace.open(name).info()
            table.add_row(info.name, str(info.documents), str(info.chunks), info.embedding_model, info.description)
    except KBError as e:
        raise _fail(e) from e
    console.print(table)


@app.command()
def docs(kb: KbOption = "default") -> None:
    """List the documents of a knowledge base."""
    try:
        documents = _workspace().open(kb).documents()
    except KBError as e:
        raise _fail(e) from e
    table = Table("doc id", "source", "chunks", "status", "error")
    for doc in documents:
        table.add_row(doc.doc_id, doc.source, str(doc.chunks), doc.status, doc.error)
    console.print(table)


@app.command()
def remove(
    source: Annotated[str, typer.Argument(help="Source path (as `kb docs` shows it) or doc id.")],
    kb: KbOption = "default",
) -> None:
    """Remove one document and its vectors."""
    try:
        knowledge_base = _workspace().open(kb)
        knowledge_base.remove(source)
    except KBError as e:
        raise _fail(e) from e
    console.print(f"removed {source}", highlight=False)
    # Searches already ignore it; Chroma deletes rows slowly (seconds for a large file), so say what we wait for.
    with errors.status("deleting its rows from the vector store (Ctrl-C is safe: the next run finishes)"):
        knowledge_base.wait_for_purge()


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="Knowledge base to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a whole knowledge base."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete knowledge base {name!r} and its index?", abort=True)
    try:
        _workspace().delete(name)
    except KBError as e:
        raise _fail(e) from e
    console.print(f"deleted {name}", highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    kb: KbOption = "default",
    k: Annotated[int, typer.Option("-k", help="Passages to return.", min=1, max=50)] = 5,
    mode: ModeOption = None,
    source: Annotated[str | None, typer.Option("--source", help="Only sources matching this glob.")] = None,
    file_type: Annotated[list[str] | None, typer.Option("--type", help="Only these file types (pdf, md…).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Minimum cosine similarity.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the passages that best match a query."""
    try:
        knowledge_base: KnowledgeBase = _workspace().open(kb)
        hits = knowledge_base.search(
            query, k=k, mode=mode, score_threshold=threshold, source_glob=source, file_types=file_type
        )
    except KBError as e:
        raise _fail(e) from e
    if as_json:
        results = [hit.model_dump(include={"source", "page", "chunk_id", "score", "text"}) for hit in hits]
        sys.stdout.write(json.dumps({"query": query, "results": results}, ensure_ascii=False) + "\n")
        return
    table = Table("#", "score", "source", "page", "text")
    for n, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:120]
        table.add_row(str(n), f"{hit.score:.3f}", hit.source, "" if hit.page is None else str(hit.page), snippet)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default from settings).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to bind (default from settings).")] = None,
) -> None:
    """Start the HTTP API (FastAPI + uvicorn): knowledge bases, uploads, answers, OpenAI-compatible chat."""
    from server import run

    settings = state.settings
    if host is not None or port is not None:
        server = settings.server.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        )
        settings = settings.model_copy(update={"server": server})
    run(settings, verbose=state.verbose)


def _register_commands_from_their_modules() -> None:
    # ask/chat and eval live in their own modules (one concept each) and read ``state`` from here.
    from kb.cli_ask import ask, chat
    from kb.cli_eval import eval_command

    app.command("ask")(ask)
    app.command("chat")(chat)
    app.command("eval")(eval_command)


_register_commands_from_their_modules()
