"""Answer benchmark: kb with the default model, kb with the quality model, and a seed-style baseline.

Questions: ``tests/eval/answers.jsonl`` (zh and en, over ``zh-chatglm/`` and kb's own ``data/docs``),
by default only its held-out half; the tuning half is what the answer stage was tuned on.

Systems (each in its own worker process, so peak RSS is its own):

* ``default``: ``KnowledgeBase.ask_events`` with kb's settings and the bundled 0.5B model.
* ``quality``: the same with the bundled 1.5B model (``--llm quality``; needs the ``quality`` extra).
* ``baseline``: the seed project's pipeline (langchain-ChatGLM style): 1,000-character chunks, top 4 by
  dense similarity (same e5 embedder), stuffed into a Chinese "known information" prompt with a refusal
  clause, answered by the 0.5B model; sources only known when the answer is complete.

Every answer is scored the same way: all-keys / any-key hit on the question's facts, degenerate
(``rag.grounding.degeneracy``), unsupported claims (figures in no shown passage), wrong refusals, and
answers not (only) in the question's language.

Usage::

    python bench/answer.py                       # held-out half, all three systems
    python bench/answer.py --split tune --systems default
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTIONS = REPO / "tests" / "eval" / "answers.jsonl"
SYSTEMS = ("default", "quality", "baseline")
_ENGLISH_WORD = re.compile(r"\b[A-Za-z][a-z]+\b")
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
    all_keys: bool
    any_key: bool
    refused: bool
    degenerate: bool
    unsupported: list[str]
    mode: str
    answer: str
    other_language: bool = False


def build_corpus(root: Path, zh_chatglm: Path) -> Path:
    """The benchmark's document folder: ``zh-chatglm/`` and ``docs/`` (kb's sample corpus)."""
    corpus = root / "corpus"
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        shutil.copytree(zh_chatglm, corpus / "zh-chatglm")
        shutil.copytree(REPO / "data" / "docs", corpus / "docs")
    return corpus


def load_questions(split: str) -> list[dict[str, Any]]:
    """The question set's lines of ``split`` ("all" for every line)."""
    lines = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in lines if split == "all" or q.get("split") == split]


def score(
    system: str, question: dict[str, Any], answer: str, passages: list[str], names: list[str], **rest: Any
) -> Run:
    """Score one answer the same way whichever system wrote it."""
    from kb.evaluation import facts_found
    from rag.citations import is_refusal, resolve_citations
    from rag.grounding import degeneracy, unsupported_claims
    from rag.language import detect_language

    facts = question.get("answer") or question.get("keys") or []
    found = facts_found(answer, facts)
    text = resolve_citations(answer, len(passages))[0]
    refused = bool(rest.pop("refused", False)) or is_refusal(text)
    return Run(
        system=system,
        qid=str(question["id"]),
        answerable=bool(question["sources"]),
        all_keys=bool(facts) and found == len(facts),
        any_key=found > 0,
        refused=refused,
        degenerate=not refused and degeneracy(text, passages, names) is not None,
        unsupported=[] if refused else unsupported_claims(text, passages, str(question["q"])),
        answer=answer,
        other_language=not refused and _other_language(text, detect_language(str(question["q"]))),
        **rest,
    )


def _other_language(answer: str, language: str) -> bool:
    """An English question answered with Chinese in it, or a Chinese one in English words only.

    Its reader may not read the answer; quotes of a source in the other language count too. A Chinese
    question answered by a bare name or figure ("KB_RETRIEVAL__K", "6 GB") is not counted.
    """
    from rag.language import han_count

    han = han_count(answer)
    if language == "en":
        return han > 0
    return han == 0 and len(_ENGLISH_WORD.findall(answer)) >= 3


def _docx_text(path: Path) -> str:
    import docx

    document = docx.Document(str(path))
    rows = [" | ".join(cell.text for cell in row.cells) for table in document.tables for row in table.rows]
    return "\n".join([p.text for p in document.paragraphs] + rows)


class SeedBaseline:
    """The seed's pipeline: 1000-character chunks, top-4 dense, one stuffed Chinese prompt."""

    def __init__(self, corpus: Path, cache: Path) -> None:
        import numpy as np
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from rag.embeddings import E5Embeddings

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
        self.chunks: list[tuple[str, str]] = []
        for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
            text = (
                _docx_text(path)
                if path.suffix == ".docx"
                else path.read_text(encoding="utf-8", errors="replace")
            )
            self.chunks.extend((path.name, chunk) for chunk in splitter.split_text(text))
        self.embeddings = E5Embeddings()
        digest = hashlib.sha256("\0".join(c for _, c in self.chunks).encode()).hexdigest()[:16]
        cached = cache / f"baseline-{digest}.npy"
        if cached.is_file():
            self.vectors = np.load(cached)
        else:
            self.vectors = np.array(
                self.embeddings.embed_documents([c for _, c in self.chunks]), dtype=np.float32
            )
            np.save(cached, self.vectors)

    def run(self, llm: Any, question: dict[str, Any]) -> Run:
        import numpy as np
        from langchain_core.messages import HumanMessage

        started = time.perf_counter()
        query = np.array(self.embeddings.embed_query(str(question["q"])), dtype=np.float32)
        top = list(np.argsort(-(self.vectors @ query))[:4])
        passages = [self.chunks[i][1] for i in top]
        prompt = SEED_PROMPT.format(context="\n".join(passages), question=question["q"])
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
        return score(
            "baseline",
            question,
            "".join(pieces).strip(),
            passages,
            [self.chunks[i][0] for i in top],
            ttft_s=ttft or total,
            total_s=total,
            prompt_tokens=usage["input_tokens"],
            completion_tokens=usage["output_tokens"],
            mode="generated",
        )


def run_kb(system: str, kb: Any, question: dict[str, Any]) -> Run:
    from kbtypes.answer import Answer

    answer = None
    for event in kb.ask_events(str(question["q"])):
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    return score(
        system,
        question,
        answer.answer,
        [s.text for s in answer.sources],
        [s.source for s in answer.sources],
        refused=answer.refused,
        ttft_s=answer.timings.get("first_token_s", answer.timings["total_s"]),
        total_s=answer.timings["total_s"],
        prompt_tokens=answer.usage["prompt_tokens"],
        completion_tokens=answer.usage["completion_tokens"],
        mode=answer.mode,
    )


def worker(args: argparse.Namespace) -> None:
    """Answer every question with one system; write the runs and peak RSS as JSON."""
    from kb import RetrievalOptions, Workspace
    from kb.settings import Settings

    questions = load_questions(args.split)
    settings = Settings(home=args.home)
    settings.llm.max_tokens = args.max_tokens
    settings.llm.temperature = 0.0
    settings.llm.threads = args.threads
    settings.llm.spec = "quality" if args.worker == "quality" else "default"
    workspace = Workspace.from_settings(settings)
    kb = workspace.open("bench")
    baseline = (
        SeedBaseline(build_corpus(args.home, args.corpus), args.home) if args.worker == "baseline" else None
    )
    kb.search("warm up", RetrievalOptions(k=1))
    runs: list[Run] = []
    for question in questions:
        run = (
            baseline.run(workspace.chat_model(), question) if baseline else run_kb(args.worker, kb, question)
        )
        runs.append(run)
        print(
            f"{run.system:8} {run.qid:26} ttft={run.ttft_s:5.1f}s total={run.total_s:5.1f}s "
            f"all={run.all_keys!s:5} refused={run.refused!s:5} {run.mode:10} {run.answer[:60]!r}",
            flush=True,
        )
    workspace.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(
        json.dumps({"runs": [asdict(r) for r in runs], "peak_rss_mib": peak}, ensure_ascii=False)
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def summarize(runs: list[Run], peak_rss_mib: float) -> dict[str, Any]:
    """The side-by-side metrics of one system."""
    answerable = [r for r in runs if r.answerable]
    unanswerable = [r for r in runs if not r.answerable]
    given = [r for r in runs if not r.refused]
    generated = [r for r in runs if r.completion_tokens]
    return {
        "questions": len(runs),
        "all_keys_hit": sum(r.all_keys for r in answerable) / max(1, len(answerable)),
        "any_key_hit": sum(r.any_key for r in answerable) / max(1, len(answerable)),
        "degenerate_answers": sum(r.degenerate for r in runs),
        "unsupported_share": sum(bool(r.unsupported) for r in given) / max(1, len(given)),
        "wrong_refusals": sum(r.refused for r in answerable) / max(1, len(answerable)),
        "correct_refusals": f"{sum(r.refused for r in unanswerable)}/{len(unanswerable)}",
        "other_language_answers": sum(r.other_language for r in given),
        "extractive": sum(r.mode == "extractive" for r in runs),
        "retried": sum(r.mode == "retried" for r in runs),
        "ttft_p50_s": statistics.median(r.ttft_s for r in runs),
        "ttft_p95_s": _pct([r.ttft_s for r in runs], 0.95),
        "prompt_tokens_mean": statistics.mean(r.prompt_tokens for r in runs),
        "tokens_per_s": sum(r.completion_tokens for r in generated)
        / max(1e-9, sum(r.total_s - r.ttft_s for r in generated)),
        "peak_rss_mib": peak_rss_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", default="heldout", choices=("heldout", "tune", "all"))
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help="comma-separated: default,quality,baseline"
    )
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpora" / "zh-chatglm")
    parser.add_argument("--home", type=Path, default=Path("/tmp/kb-bench-answer"), help="KB home (reused)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found: {args.corpus}")
    from kb import Workspace
    from kb.settings import Settings

    args.home.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(args.home, args.corpus)
    workspace = Workspace.from_settings(Settings(home=args.home), load_chat_model=False)
    workspace.open("bench", create=True).ingest(corpus)
    workspace.close()
    systems = [s for s in args.systems.split(",") if s]
    print(
        f"{len(load_questions(args.split))} {args.split} questions, systems={systems}, threads={args.threads}"
    )
    results: dict[str, dict[str, Any]] = {}
    all_runs: list[dict[str, Any]] = []
    for system in systems:
        out = args.home / f"runs-{system}.json"
        command = [sys.executable, __file__, "--worker", system, "--out", str(out), "--split", args.split]
        command += ["--home", str(args.home), "--corpus", str(args.corpus), "--threads", str(args.threads)]
        command += ["--max-tokens", str(args.max_tokens)]
        if subprocess.run(command, check=False).returncode != 0:
            print(f"{system}: worker failed, left out")
            continue
        data = json.loads(out.read_text(encoding="utf-8"))
        all_runs += data["runs"]
        results[system] = summarize([Run(**r) for r in data["runs"]], data["peak_rss_mib"])
    print()
    print(f"{'metric':22}" + "".join(f"{s:>14}" for s in results))
    for key in next(iter(results.values()), {}):
        cells = [results[s][key] for s in results]
        print(f"{key:22}" + "".join(f"{c:14.3f}" if isinstance(c, float) else f"{c!s:>14}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(all_runs, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
