"""``kb feedback export``: ratings from the page become a question file ``kb eval`` reads."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kb.cli import app
from kb.conversations import ConversationStore
from kb.eval_cases import load_cases
from kbtypes.answer import Answer, Source

ROW = "量化等级: INT4 · 最低 GPU 显存（推理）: 6 GB · 最低 GPU 显存（高效参数微调）: 7 GB"


def _source(n: int, source: str, *, cited: bool, quote: str | None = None) -> Source:
    text = f"硬件需求\n{ROW}" if quote else "别的内容"
    start = text.find(quote) if quote else None
    return Source(
        n=n,
        source=source,
        chunk_id=f"c{n}",
        score=0.8,
        text=text,
        cited=cited,
        quote=quote,
        quote_start=start,
        quote_end=start + len(quote) if quote and start is not None else None,
    )


def test_rated_answers_become_cases_and_questions_to_review(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = ConversationStore(home / "conversations.sqlite3", max_turns=4)
    good = Answer(
        answer="INT4 推理最低需要 6 GB 显存 [1]。",
        sources=[_source(1, "README.md", cited=True, quote=ROW), _source(2, "FAQ.md", cited=False)],
        mode="generated",
    )
    wrong = Answer(answer="需要 13 GB [1]。", sources=[_source(1, "README.md", cited=True)], mode="generated")
    refused = Answer(answer="无法回答。", sources=[], refused=True, mode="refused")
    for question, answer, rating, comment in [
        ("INT4 要多少显存？", good, "up", ""),
        ("INT8 要多少显存？", wrong, "down", "应该是 8 GB"),
        ("P-Tuning 学习率？", refused, "down", ""),
        ("没人评价的问题", good, None, ""),
    ]:
        n = store.append("", "zh", "c1", question, answer)
        if rating:
            store.rate("", "zh", "c1", n, rating, comment)  # type: ignore[arg-type]
    store.close()
    out = tmp_path / "feedback.jsonl"

    result = CliRunner().invoke(app, ["feedback", "export", "--out", str(out)], env={"KB_HOME": str(home)})

    assert result.exit_code == 0, result.output
    ready, to_finish = load_cases(out)
    assert (ready.q, ready.sources, ready.keys, ready.answer, ready.group) == (
        "INT4 要多少显存？",
        ["README.md"],
        [ROW],
        ["4", "6"],
        "feedback-up",
    )
    assert (to_finish.q, to_finish.sources, to_finish.keys, to_finish.note) == (
        "INT8 要多少显存？",
        ["README.md"],
        [],
        "应该是 8 GB",
    )
    assert "1 cases from answers rated up, 1 from answers rated down" in result.stderr
    assert "review by hand: P-Tuning 学习率？" in result.stderr
