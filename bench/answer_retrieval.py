"""Where retrieval ranks the passage that answers each answer-bench question, per mode and BM25 weight.

The answer stage can only quote what retrieval found. For the questions of ``tests/eval/answers.jsonl``
this counts how often the first passage, and any of the top ``k``, holds every fact the question asks
for: dense alone, BM25 alone, and hybrid fusion at several BM25 weights (the dense weight stays 1). It
reads the knowledge base ``bench/answer.py`` built, so run that once first::

    python bench/answer_retrieval.py --split tune
    python bench/answer_retrieval.py --split heldout --weights 1,2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from answer import load_questions  # noqa: E402  (bench/answer.py, next to this script)

from kb import KnowledgeBase, Workspace  # noqa: E402
from kb.evaluation import facts_found  # noqa: E402
from kb.settings import Settings  # noqa: E402
from kbtypes.retrieval import RetrievalMode, RetrievalOptions  # noqa: E402


def answering_rank(
    kb: KnowledgeBase, question: dict[str, Any], mode: RetrievalMode, depth: int
) -> int | None:
    """1-based rank of the first passage holding all the question's facts, None beyond ``depth``."""
    facts = question.get("answer") or question.get("keys") or []
    hits = kb.search(str(question["q"]), RetrievalOptions(k=depth, mode=mode))
    return next((i for i, hit in enumerate(hits, 1) if facts_found(hit.text, facts) == len(facts)), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="tune", choices=("heldout", "tune", "all"))
    parser.add_argument(
        "--home", type=Path, default=Path("/tmp/kb-bench-answer"), help="bench/answer.py's home"
    )
    parser.add_argument("--k", type=int, default=4, help="passages the answer stage gets per search")
    parser.add_argument("--weights", default="1,2,3", help="BM25 weights to fuse with")
    args = parser.parse_args()
    if not (args.home / "kbs" / "bench").is_dir():
        sys.exit(f"no bench knowledge base under {args.home}: run bench/answer.py first")
    questions = [q for q in load_questions(args.split) if q["sources"]]
    depth = max(10, args.k)
    rows: list[tuple[str, list[int | None]]] = []
    for weight in [float(w) for w in args.weights.split(",") if w]:
        settings = Settings(home=args.home)
        settings.retrieval.bm25_weight = weight
        workspace = Workspace.from_settings(settings, load_chat_model=False)
        kb = workspace.open("bench")
        modes: list[tuple[str, RetrievalMode]] = [(f"hybrid, bm25 weight {weight:g}", "hybrid")]
        if not rows:
            modes = [("dense", "dense"), ("bm25", "bm25"), *modes]
        for label, mode in modes:
            rows.append((label, [answering_rank(kb, q, mode, depth) for q in questions]))
        workspace.close()
    print(f"{len(questions)} answerable {args.split} questions; rank of the first passage holding every fact")
    print(f"{'retrieval':28}{'first':>8}{f'top {args.k}':>8}{f'top {depth}':>8}{'missed':>8}")
    for label, ranks in rows:
        first = sum(rank == 1 for rank in ranks)
        top_k = sum(rank is not None and rank <= args.k for rank in ranks)
        found = sum(rank is not None for rank in ranks)
        print(f"{label:28}{first:8}{top_k:8}{found:8}{len(ranks) - found:8}")


if __name__ == "__main__":
    main()
