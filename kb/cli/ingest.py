"""``kb ingest``: index folders incrementally, with a progress bar on a terminal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kb.cli.context import CliContext, KbOption, cli_context
from kbtypes.errors import KBError

if TYPE_CHECKING:
    from tqdm import tqdm

    from kbtypes.results import IngestReport

__all__ = ["ingest"]


class _Bar:
    """tqdm progress over the bytes of the files (so its rate and ETA are real), files and chunks beside it.

    Silent when stderr is not a terminal.
    """

    def __init__(self) -> None:
        self._bar: tqdm[None] | None = None
        self._committed = 0  # bytes of finished files
        self._files = 0
        self._total_files = 0
        self._chunks = 0

    def start(self, files: int, total_bytes: int) -> None:
        from tqdm import tqdm

        self._total_files = files
        self._bar = tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="ingest",
            disable=not sys.stderr.isatty(),
            leave=False,
        )

    def file_done(self, source: str, chunks: int, size: int) -> None:
        self._files += 1
        self._chunks += chunks
        if self._bar is not None:
            self._bar.set_postfix_str(
                f"{self._files}/{self._total_files} files, {self._chunks} chunks", refresh=False
            )
        self._committed += size
        self._advance_to(self._committed)

    def embedding(self, done: int, total: int, size: int) -> None:
        self._advance_to(self._committed + size * done // max(total, 1))

    def _advance_to(self, position: int) -> None:
        if self._bar is not None and position > self._bar.n:
            self._bar.update(position - self._bar.n)

    def cancelled(self) -> bool:
        return False  # Ctrl-C interrupts the run itself; the manifest keeps it consistent

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Folders or files to index.", exists=True)],
    kb: KbOption = "default",
    delete: Annotated[
        bool, typer.Option("--delete/--no-delete", help="Drop files gone from the folder.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Stay running and keep the knowledge base equal to the folder (Ctrl-C stops)."
        ),
    ] = False,
    settle: Annotated[
        float,
        typer.Option("--settle", min=0.05, help="--watch: seconds a change must be quiet before it applies."),
    ] = 1.0,
) -> None:
    """Index folders incrementally: new and changed files are (re)indexed, removed ones leave the index."""
    context = cli_context(ctx)
    if watch:
        _watch(context, paths, kb, settle_s=settle, as_json=as_json)
        return
    try:
        knowledge_base = context.workspace().open(kb, create=True)
        totals: dict[str, list[object]] = {
            k: [] for k in ("added", "updated", "unchanged", "removed", "failed")
        }
        chunks = embedded = tokens = text_bytes = 0
        embed_seconds = 0.0
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
            tokens += report.embed_tokens
            text_bytes += report.text_bytes
            embed_seconds += report.embed_seconds
        seconds = time.perf_counter() - started
    except KBError as e:
        raise context.fail(e) from e
    except KeyboardInterrupt:
        context.errors.print(
            "interrupted: the index is consistent; run the same command again to finish", highlight=False
        )
        raise typer.Exit(130) from None
    summary = {key: len(value) for key, value in totals.items()}
    if as_json:
        context.console.print_json(
            json.dumps(
                {
                    **summary,
                    "failures": totals["failed"],
                    "chunks": chunks,
                    "embedded": embedded,
                    "seconds": round(seconds, 2),
                    "text_kb": round(text_bytes / 1024, 1),
                    "text_kb_per_s": round(text_bytes / 1024 / seconds, 2) if seconds else 0.0,
                    "embed_seconds": round(embed_seconds, 2),
                    "embedder_tokens": tokens,
                    "embedder_tokens_per_s": round(tokens / embed_seconds) if embed_seconds else 0,
                }
            )
        )
    else:
        context.console.print(
            f"added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
            f"removed {summary['removed']}, failed {summary['failed']}; "
            f"{chunks} chunks written ({embedded} embedded) in {seconds:.1f}s"
            + (f", {text_bytes / 1024 / seconds:.1f} KB of text/s" if text_bytes and seconds else ""),
            highlight=False,
        )
        for failure in totals["failed"]:
            assert isinstance(failure, dict)
            context.errors.print(
                f"failed: {failure['source']}: {failure['reason']}", highlight=False, markup=False
            )
    if totals["failed"]:
        raise typer.Exit(1)


def _watch(context: CliContext, paths: list[Path], kb: str, *, settle_s: float, as_json: bool) -> None:
    """``kb ingest FOLDER --watch``: one line per round that changed something, until Ctrl-C."""
    if len(paths) != 1:
        raise typer.BadParameter("--watch keeps one folder in sync; give exactly one", param_hint="PATHS")
    folder = paths[0].resolve()

    def show(report: IngestReport) -> None:
        if not (report.added or report.updated or report.removed or report.failed):
            return
        failures = [{"source": f.source, "reason": f.reason} for f in report.failed]
        if as_json:
            line = {key: getattr(report, key) for key in ("added", "updated", "removed")}
            print(json.dumps({**line, "failed": failures, "seconds": round(report.seconds, 2)}), flush=True)
            return
        context.console.print(
            f"{time.strftime('%H:%M:%S')} added {len(report.added)}, updated {len(report.updated)}, "
            f"removed {len(report.removed)}, failed {len(report.failed)} in {report.seconds:.1f}s",
            highlight=False,
        )
        for failure in failures:
            context.errors.print(
                f"failed: {failure['source']}: {failure['reason']}", highlight=False, markup=False
            )

    try:
        knowledge_base = context.workspace().open(kb, create=True)
        if not as_json:
            context.errors.print(f"watching {folder} (Ctrl-C stops)", highlight=False)
        knowledge_base.watch(folder, show, settle_s=settle_s)
    except KBError as e:
        raise context.fail(e) from e
    except KeyboardInterrupt:
        if not as_json:
            context.errors.print("stopped watching: the index is consistent", highlight=False)
