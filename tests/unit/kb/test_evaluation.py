"""kb.evaluation and ``kb eval``: question-file parsing, metrics on a tiny real knowledge base, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kb import KnowledgeBase, Workspace
from kb.cli import app
from kb.cli.evaluate import eval_command
from kb.evaluation import EvalCase, evaluate, load_cases, percentile
from kb.settings import Settings
from kbtypes.errors import ConfigError
from rag.embeddings import E5Embeddings

DOCS = {
    "alpha.txt": "The lighthouse keeper of Port Eliot is Marguerite Olsen. She lights the lamp at dusk every evening.",
    "beta.txt": "Quarterly revenue of Juniper Tools reached 4.2 million euros, driven by orders for cordless drills.",
    "notes/gamma.txt": "青石镇图书馆\n\n青石镇的图书馆每周二闭馆，其余日子开放时间为上午九点到下午六点。",
    "delta.txt": "The glacier trail to Mount Hallow is closed in winter because of avalanche risk; use the valley path.",
}

CASES = [
    {"q": "Who keeps the lighthouse at Port Eliot?", "sources": ["alpha.txt"], "keys": ["marguerite olsen"]},
    {"q": "青石镇图书馆哪天闭馆？", "sources": ["notes/gamma.txt"], "keys": ["每周二闭馆"]},
    {"q": "How much revenue did Juniper Tools make?", "sources": ["beta.txt"], "keys": ["4.2 million"]},
    # The key is deliberately absent from the passage, so the source is found but the passage is not.
    {
        "q": "Is the glacier trail to Mount Hallow open in winter?",
        "sources": ["delta.txt"],
        "keys": ["snowshoes"],
    },
    {"q": "What does a train ticket from Lyon to Paris cost?", "sources": [], "keys": []},
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build(home: Path, embeddings: E5Embeddings) -> None:
    corpus = home.parent / "corpus"
    for name, text in DOCS.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(text, encoding="utf-8")
    workspace = Workspace(settings=Settings(home=home), embeddings=embeddings)
    try:
        report = workspace.open("tiny", create=True).ingest(corpus)
        assert not report.failed
    finally:
        workspace.close()


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory, e5: E5Embeddings) -> Path:
    """A home folder holding one ingested knowledge base, ``tiny``, shared by this module's tests."""
    home = tmp_path_factory.mktemp("eval") / "home"
    _build(home, e5)
    return home


@pytest.fixture
def tiny_kb(tiny_home: Path, e5: E5Embeddings) -> Iterator[KnowledgeBase]:
    workspace = Workspace(settings=Settings(home=tiny_home), embeddings=e5)
    yield workspace.open("tiny")
    workspace.close()


@pytest.fixture
def cases() -> list[EvalCase]:
    return [EvalCase.model_validate({**case, "line": n}) for n, case in enumerate(CASES, start=1)]


# -- load_cases ---------------------------------------------------------------------------------------


def test_load_cases_reads_lines_and_skips_blanks(tmp_path: Path) -> None:
    path = _write(tmp_path / "qa.jsonl", [json.dumps(CASES[0]), "", json.dumps(CASES[4], ensure_ascii=False)])

    loaded = load_cases(path)

    assert [c.q for c in loaded] == [CASES[0]["q"], CASES[4]["q"]]
    assert [c.line for c in loaded] == [1, 3]
    assert loaded[0].answerable
    assert not loaded[1].answerable


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"q": "unterminated"', "not valid JSON"),
        ('["q", "sources"]', "expected a JSON object"),
        ('{"sources": ["a.txt"], "keys": []}', "q: Field required"),
        ('{"q": "", "sources": [], "keys": []}', "q: String should have at least 1 character"),
        ('{"q": "x", "sources": "a.txt", "keys": []}', "sources: Input should be a valid list"),
        ('{"q": "x", "sources": ["a.txt"], "keys": [], "answr": ["y"]}', "answr: Extra inputs"),
        ('{"q": "x", "sources": [], "keys": ["y"]}', "keys given for an unanswerable case"),
        ('{"q": "x", "sources": ["a.txt"], "keys": [" "]}', "non-empty strings"),
    ],
)
def test_load_cases_names_the_bad_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path / "qa.jsonl", [json.dumps(CASES[0]), bad_line])

    with pytest.raises(ConfigError, match=r"qa\.jsonl:2: ") as excinfo:
        load_cases(path)

    assert message in str(excinfo.value)


def test_load_cases_rejects_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_cases(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match="no questions"):
        load_cases(_write(tmp_path / "empty.jsonl", ["", "  "]))


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, 0.0),
        ([7.0], 95, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.0),
        ([float(v) for v in range(1, 21)], 95, 19.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected


# -- metrics on a real knowledge base ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_evaluate_scores_sources_passages_and_failures(
    tiny_kb: KnowledgeBase, cases: list[EvalCase], mode: str
) -> None:
    report = evaluate(tiny_kb, cases, mode=mode, k=5)  # type: ignore[arg-type]

    assert (report.cases, report.answerable, report.unanswerable) == (5, 4, 1)
    assert [r.source_rank for r in report.results[:4]] == [1, 1, 1, 1]
    assert [r.passage_rank for r in report.results[:4]] == [1, 1, 1, None]
    assert (report.hit_at_1, report.hit_at_5, report.mrr) == (1.0, 1.0, 1.0)
    assert report.passage_hit == pytest.approx(0.75)
    assert report.passage_mrr == pytest.approx(0.75)
    assert [f.case.line for f in report.failures] == [4]
    assert "no retrieved chunk holds all keys" in report.failures[0].failures[0]
    assert report.results[4].source_rank is None
    assert not report.results[4].failures
    assert report.refusal_accuracy is None
    assert report.answer_key_rate is None
    assert 0.0 < report.search_p50_ms <= report.search_p95_ms


def test_evaluate_ranks_below_the_top(tiny_kb: KnowledgeBase) -> None:
    wrong = EvalCase(q="Who keeps the lighthouse at Port Eliot?", sources=["delta.txt"], keys=["avalanche"])

    report = evaluate(tiny_kb, [wrong], mode="dense", k=5)

    rank = report.results[0].source_rank
    assert rank is not None
    assert rank > 1
    assert report.results[0].passage_rank == rank
    assert report.hit_at_1 == 0.0
    assert report.mrr == pytest.approx(1.0 / rank)
    assert report.results[0].retrieved[0] == "alpha.txt"


def test_evaluate_rejects_bad_arguments(tiny_kb: KnowledgeBase, cases: list[EvalCase]) -> None:
    with pytest.raises(ConfigError, match="k must be"):
        evaluate(tiny_kb, cases, mode="dense", k=0)
    with pytest.raises(ConfigError, match="no evaluation cases"):
        evaluate(tiny_kb, [], mode="dense")


@pytest.mark.slow
def test_evaluate_with_answers_scores_keys_and_refusals(
    tiny_home: Path, e5: E5Embeddings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from kb.composition import build_chat_model
    from kb.settings import LLMSettings

    models = tmp_path_factory.mktemp("models")
    llm = LLMSettings.model_validate({"max_tokens": 48})
    workspace = Workspace(
        settings=Settings(home=tiny_home),
        embeddings=e5,
        chat_model=lambda: build_chat_model(llm, models_dir=models),
    )
    chosen = [EvalCase.model_validate({**CASES[i], "line": i + 1}) for i in (0, 4)]
    try:
        report = evaluate(workspace.open("tiny"), chosen, mode="hybrid", k=3, answers=True)
    finally:
        workspace.close()

    answered, unanswerable = report.results
    assert answered.answer
    assert answered.refused is not None
    assert answered.answer_ms is not None
    assert answered.answer_key_rate in (0.0, 1.0)
    assert unanswerable.refused is True
    assert not unanswerable.failures
    assert report.refusal_accuracy in (0.5, 1.0)
    assert report.answer_p50_ms is not None


# -- CLI ------------------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    """The real ``kb`` app, where kb.cli registers ``eval_command`` as ``kb eval``."""
    assert any(command.callback is eval_command for command in app.registered_commands)
    return app


def test_cli_prints_modes_side_by_side_and_failures(tiny_home: Path, tmp_path: Path) -> None:
    qa = _write(tmp_path / "qa.jsonl", [json.dumps(c, ensure_ascii=False) for c in CASES])

    result = CliRunner().invoke(_app(), ["eval", str(qa), "--kb", "tiny"], env={"KB_HOME": str(tiny_home)})

    assert result.exit_code == 0, result.output
    for text in ("hit@5", "MRR", "passage MRR", "dense: 1 failed", "bm25: 1 failed", "hybrid: 1 failed"):
        assert text in result.output


def test_cli_json_for_chosen_modes(tiny_home: Path, tmp_path: Path) -> None:
    qa = _write(tmp_path / "qa.jsonl", [json.dumps(c, ensure_ascii=False) for c in CASES])

    result = CliRunner().invoke(
        _app(),
        ["eval", str(qa), "--kb", "tiny", "--mode", "bm25", "--mode", "dense", "-k", "3", "--json"],
        env={"KB_HOME": str(tiny_home)},
    )

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [r["mode"] for r in payload["reports"]] == ["bm25", "dense"]
    assert all(r["k"] == 3 and r["mrr"] == 1.0 for r in payload["reports"])
    assert payload["reports"][0]["results"][3]["failures"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--mode", "fuzzy"], "unknown retrieval mode"), (["--kb", "nope"], "no knowledge base named")],
)
def test_cli_reports_errors_in_one_line(
    tiny_home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    qa = _write(tmp_path / "qa.jsonl", [json.dumps(CASES[0])])

    result = CliRunner().invoke(
        _app(), ["eval", str(qa), "--kb", "tiny", *args], env={"KB_HOME": str(tiny_home)}
    )

    assert result.exit_code == 1
    assert message in result.output


def test_cli_names_the_bad_line(tiny_home: Path, tmp_path: Path) -> None:
    qa = _write(tmp_path / "qa.jsonl", [json.dumps(CASES[0]), "{oops"])

    result = CliRunner().invoke(_app(), ["eval", str(qa), "--kb", "tiny"], env={"KB_HOME": str(tiny_home)})

    assert result.exit_code == 1
    assert "qa.jsonl:2:" in result.output


def test_cli_keeps_only_the_cases_of_a_kind(tiny_home: Path, tmp_path: Path) -> None:
    cases = [{**case, "kind": "table" if n == 0 else "prose"} for n, case in enumerate(CASES)]
    qa = _write(tmp_path / "qa.jsonl", [json.dumps(c, ensure_ascii=False) for c in cases])
    env = {"KB_HOME": str(tiny_home)}

    kept = CliRunner().invoke(_app(), ["eval", str(qa), "--kb", "tiny", "--kind", "table", "--json"], env=env)
    missing = CliRunner().invoke(_app(), ["eval", str(qa), "--kb", "tiny", "--kind", "list"], env=env)

    assert kept.exit_code == 0, kept.output
    assert all(len(report["results"]) == 1 for report in json.loads(kept.stdout)["reports"])
    assert missing.exit_code == 1
    assert "no cases with kind 'list'" in missing.output
