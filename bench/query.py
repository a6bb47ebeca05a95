"""Query latency at scale: a 100k-chunk knowledge base, dense vs BM25 vs hybrid, and removing a big file.

The build uses a feature-hashing embedder (384-d, the default model's width) because embedding 50 MB with
a neural model takes hours on 2 cores; store and index latency do not depend on what the vectors mean.
The real default embedder's own query time is measured separately and added for the end-to-end figure.

    python bench/query.py                 # 100k chunks (10 files x 10k)
    python bench/query.py --chunks 20000  # smaller
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from kb import RetrievalOptions, Workspace  # noqa: E402
from kb.settings import Settings  # noqa: E402
from rag.embeddings import E5Embeddings, IdentifiedEmbeddings  # noqa: E402
from rag.tokenize import tokenize  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
DIM = 384


class HashingEmbeddings(IdentifiedEmbeddings):
    """Bag-of-tokens feature hashing into 384 dimensions: fast, deterministic, no model."""

    @property
    def model_id(self) -> str:
        return "bench:feature-hashing-384"

    @property
    def dimension(self) -> int:
        return DIM

    def _embed(self, text: str) -> list[float]:
        vector = np.zeros(DIM, dtype=np.float32)
        for token in tokenize(text):
            digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
            vector[digest % DIM] += 1.0 if digest & 1 << 31 else -1.0
        norm = float(np.linalg.norm(vector)) or 1.0
        return (vector / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def make_files(folder: Path, total_chunks: int, files: int) -> list[str]:
    """Write ``files`` text files of about total/files 500-char paragraphs cut from War and Peace."""
    book = (CORPORA / "bulk" / "book-war-and-peace-1225p.txt").read_text(encoding="utf-8")
    words = book.split()
    per_file = total_chunks // files
    paragraphs_sample: list[str] = []
    cursor = 0
    for f in range(files):
        paragraphs = []
        for p in range(per_file):
            piece: list[str] = []
            size = 0
            while size < 440:
                word = words[cursor % len(words)]
                cursor += 1
                piece.append(word)
                size += len(word) + 1
            # A per-paragraph tag keeps every chunk distinct, as real files would be.
            paragraphs.append(f"[f{f} p{p}] " + " ".join(piece) + ".")
        (folder / f"part{f:02d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
        paragraphs_sample.extend(paragraphs[:: max(1, per_file // 10)])
    return paragraphs_sample


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = root / "docs"
        docs.mkdir()
        sample = make_files(docs, args.chunks, args.files)
        settings = Settings(
            home=root / "home", ingest={"chunk_size": 500, "chunk_overlap": 0, "embed_batch_size": 2000}
        )
        workspace = Workspace(settings=settings, embeddings=HashingEmbeddings())
        kb = workspace.open("scale", create=True)
        started = time.perf_counter()
        report = kb.ingest(docs)
        build = time.perf_counter() - started
        chunks = kb._index.store.count()
        print(
            f"built {chunks} chunks from {len(report.added)} files in {build:.0f}s (feature-hashing embedder)"
        )

        rng = np.random.default_rng(7)
        queries = []
        for paragraph in rng.choice(sample, size=args.queries, replace=True):
            words = paragraph.split()[2:]
            start = int(rng.integers(0, max(1, len(words) - 8)))
            queries.append(" ".join(words[start : start + 8]))

        print(f"{'mode':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}   (store + BM25 + fusion, k=5)")
        one_file = sorted(kb.manifest.sources())[-1]
        for label, retriever in [
            ("dense", kb.retriever(RetrievalOptions(k=5, mode="dense"))),
            ("bm25", kb.retriever(RetrievalOptions(k=5, mode="bm25"))),
            ("hybrid", kb.retriever(RetrievalOptions(k=5, mode="hybrid"))),
            (
                "hybrid, filtered to one file",
                kb.retriever(RetrievalOptions(k=5, mode="hybrid", source_glob=one_file)),
            ),
        ]:
            retriever.invoke(queries[0])
            times = []
            for query in queries:
                t = time.perf_counter()
                retriever.invoke(query)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"{label:28s} {statistics.median(times):8.1f} {percentile(times, 95):8.1f} {max(times):8.1f}"
            )

        e5 = E5Embeddings()
        e5.embed_query("warm up")
        embed_times = []
        for query in queries[:50]:
            t = time.perf_counter()
            e5.embed_query(query)
            embed_times.append((time.perf_counter() - t) * 1000)
        print(
            f"e5 query embedding: p50={statistics.median(embed_times):.1f} ms p95={percentile(embed_times, 95):.1f} ms"
            " (add to the figures above for end to end)"
        )

        target = sorted(kb.manifest.records())[0]
        size = len(kb.manifest.get(target).chunk_ids)  # type: ignore[union-attr]
        probe = next(
            q for q in queries if kb.search(q, RetrievalOptions(k=1, mode="dense"))[0].source == target
        )
        t = time.perf_counter()
        kb.remove(target)
        visible = time.perf_counter() - t
        leaked = [
            hit
            for mode in ("dense", "bm25", "hybrid")
            for hit in kb.search(probe, RetrievalOptions(k=5, mode=mode))  # type: ignore[arg-type]
            if hit.source == target
        ]
        print(
            f"remove one file ({size} chunks): gone from search in {visible:.2f}s "
            f"(manifest + BM25 + hide; removed file's chunks in results right after: {len(leaked)})"
        )
        retriever = kb.retriever(RetrievalOptions(k=5, mode="hybrid"))
        during: list[float] = []
        while kb._index.store.hidden_count:
            q = time.perf_counter()
            retriever.invoke(queries[len(during) % len(queries)])
            during.append((time.perf_counter() - q) * 1000)
        kb.wait_for_purge()
        purged = time.perf_counter() - t
        print(
            f"  its rows purged from Chroma in the background after {purged:.2f}s; "
            f"{len(during)} hybrid queries meanwhile: p50={statistics.median(during or [0]):.1f} ms "
            f"p95={percentile(during or [0], 95):.1f} ms"
        )
        print(f"chunks left: {kb._index.store.count()}  lexical: {len(kb._index.lexical)}")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        workspace.close()


if __name__ == "__main__":
    main()
