"""Ingest throughput: kb's incremental pipeline vs a seed-style baseline, same embedder, one run.

The baseline is the langchain-ChatGLM recipe: whole-file text → RecursiveCharacterTextSplitter(1000, 0) →
``Chroma.from_documents`` with the same embedding model. Both read text through kb's loaders so parsing
costs the same; the difference is splitting, batching, de-duplication and how the store is written.

    python bench/ingest.py --quick            # a slice of each bulk file (CI-sized, a few minutes)
    python bench/ingest.py --slice-kb 400     # bigger slices
    python bench/ingest.py --full             # whole files (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.loaders import load_file  # noqa: E402
from ingest.splitting import extracted_text  # noqa: E402
from kb import Workspace  # noqa: E402
from kb.settings import Settings  # noqa: E402
from rag.embeddings import E5Embeddings  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"


class TimedEmbeddings(E5Embeddings):
    """The default embedder, timing its own calls so time outside it can be reported."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            return super().embed_documents(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)

    def reset(self) -> None:
        self.seconds = 0.0
        self.texts = 0


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
    embeddings.reset()
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
        "embedded": float(report.chunks_embedded),
        "failed": float(len(report.failed)),
        "reingest_seconds": warm,
    }


def run_baseline(folder: Path, home: Path, embeddings: TimedEmbeddings) -> dict[str, float]:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings.reset()
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 KB of text from each file")
    parser.add_argument("--slice-kb", type=int, default=80, help="KB of text taken from each bulk file")
    parser.add_argument("--full", action="store_true", help="whole files")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    limit = None if args.full else (20 if args.quick else args.slice_kb)

    embeddings = TimedEmbeddings()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = {"en-bulk": work / "en", "zh": work / "zh"}
        for folder in sets.values():
            folder.mkdir()
        for path in sorted((CORPORA / "bulk").iterdir()):
            slice_file(path, sets["en-bulk"], limit)
        for path in sorted((CORPORA / "zh-chatglm").glob("*.md")):
            if "_en" not in path.name:
                slice_file(path, sets["zh"], limit)
        for name, folder in sets.items():
            size = text_kb(folder)
            kb_run = run_kb(folder, work / f"kb-{name}", embeddings)
            base = run_baseline(folder, work / f"seed-{name}", embeddings)
            results[name] = {
                "text_kb": round(size, 1),
                "kb_seconds": round(kb_run["seconds"], 2),
                "kb_kb_per_s": round(size / kb_run["seconds"], 2),
                "kb_outside_embedder_share": round(1 - kb_run["embed_seconds"] / kb_run["seconds"], 3),
                "kb_chunks": kb_run["chunks"],
                "kb_embedded": kb_run["embedded"],
                "kb_failed_files": kb_run["failed"],
                "baseline_seconds": round(base["seconds"], 2),
                "baseline_kb_per_s": round(size / base["seconds"], 2),
                "baseline_chunks": base["chunks"],
                "throughput_ratio_kb_vs_baseline": round(base["seconds"] / kb_run["seconds"], 2),
                "unchanged_reingest_seconds": round(kb_run["reingest_seconds"], 4),
                "cold_vs_unchanged_speedup": round(kb_run["seconds"] / kb_run["reingest_seconds"], 1),
            }
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output = {"slice_kb_per_file": limit, "peak_rss_mb": round(peak_rss_mb, 1), "sets": results}
    if args.json:
        print(json.dumps(output, indent=2))
        return
    print(
        f"slice per file: {'whole files' if limit is None else f'{limit} KB'}   peak RSS: {peak_rss_mb:.0f} MB"
    )
    keys = list(next(iter(results.values())))
    print(f"{'metric':36s}" + "".join(f"{name:>14s}" for name in results))
    for key in keys:
        print(f"{key:36s}" + "".join(f"{results[name][key]:>14}" for name in results))


if __name__ == "__main__":
    main()
