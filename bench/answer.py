"""Answer benchmark: kb's QA chain vs a langchain-ChatGLM-style baseline, same model, same questions.

Baseline (the seed project's ask.py): RecursiveCharacterTextSplitter(1000, 0) chunks, the top 4 by dense
similarity (same E5 embedder) stuffed into a Chinese "known information" prompt with a long refusal
clause; sources are only known when the answer is complete.

kb: ``KnowledgeBase.ask_events`` with its default settings (hybrid retrieval, evidence gate, short
trimmed passages, sources event before the first token).

Both use the bundled Qwen2.5-Coder-0.5B-Instruct Q4 GGUF with the same threads, sampling and
max_tokens, and the two systems alternate question by question so CPU contention hits both alike.

Usage::

    python bench/answer.py            # every question in bench/answer_questions.jsonl
    python bench/answer.py --quick    # a few questions
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil
from langchain_core.messages import HumanMessage
from langchain_text_splitters import RecursiveCharacterTextSplitter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kb.knowledge_base import Workspace  # noqa: E402
from kb.settings import Settings  # noqa: E402
from rag.answer import Answer, SourcesEvent, TokenEvent  # noqa: E402
from rag.citations import is_refusal  # noqa: E402
from rag.embeddings import E5Embeddings  # noqa: E402
from rag.llms import ChatLlamaCpp, ensure_default_model  # noqa: E402

QUESTIONS = REPO / "bench" / "answer_questions.jsonl"
QUICK_IDS = (
    "zh-int4-vram",
    "zh-port",
    "zh-ptuning-params",
    "en-transformers",
    "en-clear",
    "en-unrelated-capital",
)
SEED_PROMPT = (
    "已知信息：\n{context}\n\n"
    "根据上述已知信息，简洁和专业地回答用户的问题。如果无法从中得到答案，请说“根据已知信息无法回答该问题”"
    "或“没有提供足够的相关信息”，不允许在答案中添加编造成分，答案请使用中文。问题是：{question}"
)


@dataclass
class Run:
    """One question answered by one system."""

    system: str
    qid: str
    answerable: bool
    ttft_s: float
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    hit: bool
    refused: bool
    sources_first: bool
    answer: str
    cited: list[str] = field(default_factory=list)


class SeedBaseline:
    """The seed's pipeline: 1000-character chunks, top-4 dense, one stuffed Chinese prompt."""

    def __init__(self, corpus: Path, embeddings: E5Embeddings) -> None:
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
        self.chunks: list[tuple[str, str]] = []
        for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
            text = path.read_text(encoding="utf-8", errors="replace")
            self.chunks.extend((path.name, chunk) for chunk in splitter.split_text(text))
        self.embeddings = embeddings
        self.vectors = np.array(embeddings.embed_documents([c for _, c in self.chunks]), dtype=np.float32)

    def run(self, llm: ChatLlamaCpp, question: dict[str, object]) -> Run:
        started = time.perf_counter()
        query = np.array(self.embeddings.embed_query(str(question["question"])), dtype=np.float32)
        top = np.argsort(-(self.vectors @ query))[:4]
        context = "\n".join(self.chunks[i][1] for i in top)
        prompt = SEED_PROMPT.format(context=context, question=question["question"])
        pieces: list[str] = []
        ttft = 0.0
        usage = {"input_tokens": 0, "output_tokens": 0}
        for chunk in llm.stream([HumanMessage(prompt)]):
            if chunk.usage_metadata:
                usage["input_tokens"] += chunk.usage_metadata["input_tokens"]
                usage["output_tokens"] += chunk.usage_metadata["output_tokens"]
            if chunk.text:
                ttft = ttft or time.perf_counter() - started
                pieces.append(chunk.text)
        total = time.perf_counter() - started
        answer = "".join(pieces).strip()
        return Run(
            system="baseline",
            qid=str(question["id"]),
            answerable=bool(question["answerable"]),
            ttft_s=ttft or total,
            total_s=total,
            prompt_tokens=usage["input_tokens"],
            completion_tokens=usage["output_tokens"],
            hit=_hit(answer, question),
            refused=is_refusal(answer),
            sources_first=False,
            answer=answer,
            cited=[self.chunks[i][0] for i in top],
        )


def _hit(answer: str, question: dict[str, object]) -> bool:
    keywords = question["keywords"]
    assert isinstance(keywords, list)
    return any(str(k).lower() in answer.lower() for k in keywords)


def run_kb(workspace: Workspace, question: dict[str, object]) -> Run:
    kb = workspace.open("bench")
    started = time.perf_counter()
    ttft = 0.0
    sources_first = False
    answer: Answer | None = None
    for event in kb.ask_events(str(question["question"])):
        if isinstance(event, SourcesEvent):
            sources_first = ttft == 0.0
        elif isinstance(event, TokenEvent):
            ttft = ttft or time.perf_counter() - started
        else:
            answer = event
    assert answer is not None
    return Run(
        system="kb",
        qid=str(question["id"]),
        answerable=bool(question["answerable"]),
        ttft_s=answer.timings.get("first_token_s", ttft),
        total_s=answer.timings["total_s"],
        prompt_tokens=answer.usage["prompt_tokens"],
        completion_tokens=answer.usage["completion_tokens"],
        hit=_hit(answer.answer, question),
        refused=answer.refused,
        sources_first=sources_first,
        answer=answer.answer,
        cited=[s.source for s in answer.sources if s.cited],
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(runs: list[Run], system: str) -> dict[str, float]:
    mine = [r for r in runs if r.system == system]
    answerable = [r for r in mine if r.answerable]
    unanswerable = [r for r in mine if not r.answerable]
    generated = [r for r in mine if r.completion_tokens]
    llm_runs = [r for r in mine if r.prompt_tokens]
    return {
        "questions": len(mine),
        "ttft_p50_s": statistics.median(r.ttft_s for r in mine),
        "ttft_p95_s": _pct([r.ttft_s for r in mine], 0.95),
        "ttft_p50_llm_s": statistics.median(r.ttft_s for r in llm_runs) if llm_runs else float("nan"),
        "total_p50_s": statistics.median(r.total_s for r in mine),
        "total_p95_s": _pct([r.total_s for r in mine], 0.95),
        "prompt_tokens_mean": statistics.mean(r.prompt_tokens for r in llm_runs) if llm_runs else 0.0,
        "tokens_per_s": (
            sum(r.completion_tokens for r in generated)
            / max(1e-9, sum(r.total_s - r.ttft_s for r in generated))
        ),
        "keyword_hit_rate": sum(r.hit for r in answerable) / max(1, len(answerable)),
        "wrong_refusals": sum(r.refused for r in answerable),
        "correct_refusals": f"{sum(r.refused for r in unanswerable)}/{len(unanswerable)}",  # type: ignore[dict-item]
        "sources_before_first_token": all(r.sources_first for r in mine),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"only {len(QUICK_IDS)} questions")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "zh-chatglm")
    parser.add_argument(
        "--home", type=Path, default=Path("/tmp/kb-bench-answer"), help="KB home (ingest is reused)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write every run here")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found: {args.corpus}")

    questions = [
        json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if args.quick:
        questions = [q for q in questions if q["id"] in QUICK_IDS]
    model = ensure_default_model(args.home / "models")
    llm = ChatLlamaCpp(
        model_path=model,
        n_ctx=4096,
        n_threads=args.threads,
        max_tokens=args.max_tokens,
        temperature=0.1,
        seed=0,
    )
    embeddings = E5Embeddings()
    settings = Settings(home=args.home)
    settings.llm.max_tokens = args.max_tokens
    workspace = Workspace(settings=settings, embeddings=embeddings, chat_model=lambda: llm)
    started = time.perf_counter()
    workspace.open("bench", create=True).ingest(args.corpus)
    baseline = SeedBaseline(args.corpus, embeddings)
    print(
        f"setup {time.perf_counter() - started:.0f}s, {len(questions)} questions, threads={args.threads}, "
        f"max_tokens={args.max_tokens}",
        flush=True,
    )

    runs: list[Run] = []
    for question in questions:
        for run in (run_kb(workspace, question), baseline.run(llm, question)):
            runs.append(run)
            print(
                f"{run.system:8} {run.qid:22} ttft={run.ttft_s:6.1f}s total={run.total_s:6.1f}s "
                f"prompt={run.prompt_tokens:5d} hit={run.hit!s:5} refused={run.refused!s:5} "
                f"{run.answer[:70]!r}",
                flush=True,
            )

    print()
    summaries = {system: summarize(runs, system) for system in ("kb", "baseline")}
    keys = list(summaries["kb"])
    print(f"{'metric':28} {'kb':>12} {'baseline':>12}")
    for key in keys:
        cells = [summaries[s][key] for s in ("kb", "baseline")]
        print(f"{key:28} " + " ".join(f"{c:12.2f}" if isinstance(c, float) else f"{c!s:>12}" for c in cells))
    rss_mib = psutil.Process().memory_info().rss / 2**20
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'rss_mib (process, both)':28} {rss_mib:12.0f}   peak {peak_mib:.0f}")
    kb_s, base = summaries["kb"], summaries["baseline"]
    print(
        "goals: ttft <= 0.5x baseline:",
        kb_s["ttft_p50_s"] <= 0.5 * base["ttft_p50_s"],
        "| hit rate >= baseline + 0.25:",
        kb_s["keyword_hit_rate"] >= base["keyword_hit_rate"] + 0.25,
        "| wrong refusals <= half:",
        kb_s["wrong_refusals"] <= base["wrong_refusals"] / 2,
    )
    if args.json:
        args.json.write_text(
            json.dumps([asdict(r) for r in runs], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    workspace.close()


if __name__ == "__main__":
    main()
