"""Benchmark LexicalIndex at scale: build, search, update, delete, save and load.

Run: ``python bench/lexical.py [--chunks 100000] [--queries 300]``. Chunks are ~400-character windows
of War and Peace; each pass over the book starts at a different offset and counts as one "file".
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.lexical import LexicalIndex  # noqa: E402
from rag.tokenize import tokenize  # noqa: E402

BOOK = REPO.parent / "shared" / "corpora" / "bulk" / "book-war-and-peace-1225p.txt"
CHUNK_CHARS = 400
NAMED_QUERIES = [
    "Pierre Bezukhov inheritance",
    "Natasha Rostova first ball",
    "battle of Austerlitz Prince Andrew wounded",
    "Napoleon crosses the Niemen",
    "burning of Moscow",
    "Kutuzov council at Fili",
    "Anna Pavlovna soirée",
    "Dolokhov duel",
    "1812",
    "what is the meaning of life",
]


def _chunks(text: str, offset: int) -> list[str]:
    chunks = []
    start = offset
    while start < len(text):
        end = text.find(" ", start + CHUNK_CHARS)
        end = len(text) if end == -1 else end
        chunks.append(text[start:end])
        start = end + 1
    return chunks


def _files(total: int, per_file: int) -> dict[str, tuple[list[str], list[str]]]:
    """Return ``source -> (ids, texts)``: ``total`` chunks in files of ``per_file`` chunks."""
    text = BOOK.read_text(encoding="utf-8", errors="replace")
    chunks: list[str] = []
    shift = 0
    while len(chunks) < total:
        chunks.extend(_chunks(text, shift * 37))
        shift += 1
    files: dict[str, tuple[list[str], list[str]]] = {}
    for start in range(0, total, per_file):
        source = f"war-and-peace-{start // per_file:02d}.txt"
        texts = chunks[start : min(start + per_file, total)]
        files[source] = ([f"{source}#{n}" for n in range(len(texts))], texts)
    return files


def _meta(source: str) -> dict[str, str]:
    return {"source": source, "suffix": ".txt"}


def _timed(label: str, action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {elapsed * 1000:10.1f} ms")
    return elapsed


def _latencies(index: LexicalIndex, queries: list[str], **kwargs: object) -> tuple[float, float, float]:
    times = []
    for query in queries:
        start = time.perf_counter()
        index.search(query, 10, **kwargs)  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], times[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--per-file", type=int, default=10_000)
    args = parser.parse_args()
    files = _files(args.chunks, args.per_file)
    all_texts = [t for _, texts in files.values() for t in texts]
    print(
        f"chunks={len(all_texts)} files={len(files)} mean_chars={sum(map(len, all_texts)) / len(all_texts):.0f}"
    )

    rng = random.Random(7)
    queries = list(NAMED_QUERIES)
    while len(queries) < args.queries:
        words = rng.choice(all_texts).split()
        width = rng.randint(2, 6)
        start = rng.randrange(max(len(words) - width, 1))
        queries.append(" ".join(words[start : start + width]))

    _timed("tokenize all chunks (part of build)", lambda: [tokenize(t) for t in all_texts])
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "bm25"
        index = LexicalIndex(directory)

        def build() -> None:
            for source, (ids, texts) in files.items():
                index.upsert(ids, texts, [_meta(source)] * len(ids))

        _timed(f"build: upsert {len(files)} files one by one", build)
        _timed("save (first, everything)", index.save)
        size = sum(p.stat().st_size for p in directory.iterdir()) / 2**20
        print(
            f"on disk: {size:.1f} MiB in {len(list(directory.iterdir()))} files, segments={len(index._segments)}"
        )
        loaded: list[LexicalIndex] = []
        _timed("load", lambda: loaded.append(LexicalIndex(directory)))
        index = loaded[0]
        assert len(index) == len(all_texts)

        index.search("warm up", 10)
        p50, p95, worst = _latencies(index, queries)
        print(
            f"search k=10 ({len(queries)} queries)        p50={p50:.2f} ms p95={p95:.2f} ms max={worst:.2f} ms"
        )
        one_file = lambda meta: fnmatch(meta["source"], "*-03.txt")  # noqa: E731
        p50, p95, worst = _latencies(index, queries, where=one_file)
        print(
            f"search k=10 where=source glob (1 of {len(files)} files) p50={p50:.2f} ms p95={p95:.2f} ms max={worst:.2f} ms"
        )

        p50, p95, worst = _latencies(index, queries, where=lambda meta: False)
        print(
            f"search k=10 where=rejects everything (worst case)   p50={p50:.2f} ms p95={p95:.2f} ms max={worst:.2f} ms"
        )

        # One changed 10-KB file: 25 new chunks, replacing 25 old ones.
        source = next(iter(files))
        ids, texts = files[source]
        changed = [t.upper() for t in texts[:25]]
        _timed(
            "upsert one 10-KB file (25 chunks, replacing)",
            lambda: index.upsert(ids[:25], changed, [_meta(source)] * 25),
        )
        _timed("save after that", index.save)
        p50, p95, worst = _latencies(index, queries[:100])
        print(
            f"search after small update                  p50={p50:.2f} ms p95={p95:.2f} ms max={worst:.2f} ms"
        )

        victim = list(files)[1]
        victim_ids, victim_texts = files[victim]
        _timed(f"delete one file ({len(victim_ids)} chunks)", lambda: index.delete(victim_ids))
        _timed("save after delete", index.save)
        _timed(
            f"upsert one file ({len(victim_ids)} chunks)",
            lambda: index.upsert(victim_ids, victim_texts, [_meta(victim)] * len(victim_ids)),
        )
        _timed("save after that", index.save)

        def many_small() -> None:
            for start in range(0, 2000, 25):
                index.upsert(ids[start : start + 25], texts[start : start + 25], [_meta(source)] * 25)

        _timed("80 small file upserts (25 chunks each, merges included)", many_small)
        _timed("save after that", index.save)
        print(f"segments={len(index._segments)} chunks={len(index)}")
        p50, p95, worst = _latencies(index, queries)
        print(
            f"search after all updates                   p50={p50:.2f} ms p95={p95:.2f} ms max={worst:.2f} ms"
        )
        assert len(index) == len(all_texts)


if __name__ == "__main__":
    main()
