"""Prompt building under a token budget, citation parsing, refusal and language detection (issue #4)."""

from __future__ import annotations

import re

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from rag.citations import is_refusal, overlap_citations, resolve_citations
from rag.language import detect_language
from rag.prompt import (
    STRICT_INSTRUCTION,
    SYSTEM_PROMPT,
    WORKED_EXAMPLE,
    build_prompt,
    refusal_text,
    split_sentences,
    trim_passage,
)

_TOKEN = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9\u4e00-\u9fff]")


def count(text: str) -> int:
    """Deterministic stand-in for a model tokenizer: one token per CJK char, word or symbol.

    ``build_prompt`` takes any counter; the end-to-end test runs it with the real model's tokenizer.
    """
    return len(_TOKEN.findall(text))


def doc(text: str, n: int, score: float = 0.9) -> Document:
    return Document(page_content=text, metadata={"source": f"doc{n}.md", "id": f"c{n}", "score": score})


LONG_ZH = (
    "ChatGLM-6B 是一个开源的对话语言模型。它基于 GLM 架构，具有 62 亿参数。"
    "结合模型量化技术，用户可以在消费级的显卡上进行本地部署。"
    "INT4 量化级别下最低只需 6GB 显存。"
    "模型使用了和 ChatGPT 相似的技术，针对中文问答和对话进行了优化。"
    "经过约 1T 标识符的中英双语训练，辅以监督微调等技术。"
)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ChatGLM-6B 需要多少显存？", "zh"),
        ("INT4 量化需要多少 GPU 显存", "zh"),
        ("How much GPU memory does ChatGLM-6B need?", "en"),
        ("What does 显存 mean in this README?", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_refusal_text_per_language() -> None:
    assert refusal_text("zh") == "根据已知信息无法回答该问题。"
    assert refusal_text("en") == "I can't answer that from the indexed documents."


def test_split_sentences_keeps_every_character() -> None:
    text = "第一句。第二句！Third one. Fourth?\n| a | b |\n末尾"
    pieces = split_sentences(text)
    assert "".join(pieces) == text
    assert len(pieces) == 6


def test_trim_passage_keeps_the_best_matching_sentence() -> None:
    trimmed = trim_passage(LONG_ZH, "INT4 需要多少显存", max_tokens=30, count_tokens=count)
    assert "6GB" in trimmed
    assert count(trimmed) <= 30
    assert trimmed.startswith("…")


def test_trim_passage_returns_short_text_unchanged() -> None:
    assert trim_passage("短文本。", "问题", max_tokens=50, count_tokens=count) == "短文本。"


def test_trim_passage_cuts_a_sentence_longer_than_the_budget() -> None:
    trimmed = trim_passage("一" * 100, "一", max_tokens=10, count_tokens=count)
    assert count(trimmed) <= 10
    assert trimmed.endswith("…")


@pytest.mark.parametrize("budget", [60, 100, 150, 250, 400])
def test_build_prompt_never_exceeds_the_budget(budget: int) -> None:
    docs = [doc(LONG_ZH, n) for n in range(1, 6)]
    plan = build_prompt(
        "INT4 需要多少显存？", docs, count_tokens=count, max_context_tokens=budget, passage_tokens=80
    )
    assert plan.context_tokens <= budget
    user = plan.messages[-1].text
    sources_block = user.split("\n问题：", 1)[0]
    assert count(sources_block) <= budget


def test_build_prompt_drops_lowest_ranked_first() -> None:
    docs = [doc(f"第{n}段。" + LONG_ZH, n) for n in range(1, 6)]
    plan = build_prompt(
        "INT4 需要多少显存？", docs, count_tokens=count, max_context_tokens=150, passage_tokens=60
    )
    kept = [d.metadata["id"] for d in plan.documents]
    assert kept == [f"c{n}" for n in range(1, len(kept) + 1)]
    assert 1 <= len(kept) < 5


def test_build_prompt_respects_the_context_window() -> None:
    docs = [doc(LONG_ZH, n) for n in range(1, 6)]
    plan = build_prompt(
        "INT4 需要多少显存？",
        docs,
        count_tokens=count,
        max_context_tokens=2000,
        passage_tokens=500,
        context_window=450,
        reserve_tokens=100,
    )
    assert plan.prompt_tokens <= 450 - 100


def test_build_prompt_layout_system_first_then_history_then_sources() -> None:
    plan = build_prompt(
        "那 INT8 呢？", [doc(LONG_ZH, 1)], count_tokens=count, history=[("INT4 需要多少显存？", "6GB [1]")]
    )
    assert isinstance(plan.messages[0], SystemMessage)
    assert plan.messages[0].text == SYSTEM_PROMPT
    assert isinstance(plan.messages[1], HumanMessage)
    assert isinstance(plan.messages[2], AIMessage)
    user = plan.messages[-1].text
    assert user.startswith("[1] ")
    assert user.endswith("问题：那 INT8 呢？")


def test_build_prompt_numbers_passages_without_label_lines_the_model_could_copy() -> None:
    # "[1] README.md" on a line of its own is what the 0.5B model echoed instead of answering.
    docs = [
        Document(page_content="Some text.", metadata={"source": "a.pdf", "page": 3, "score": 0.9}),
        Document(page_content="Other text.", metadata={"source": "b.md", "score": 0.8}),
    ]
    plan = build_prompt("What is it?", docs, count_tokens=count)
    user = plan.messages[-1].text
    assert user == "[1] Some text.\n[2] Other text.\nQuestion: What is it?"
    assert "a.pdf" not in user
    assert "b.md" not in user


def test_strict_prompt_puts_the_instruction_before_the_sources() -> None:
    docs = [doc("INT4 最低需要 6GB 显存。", 1)]
    normal = build_prompt("INT4 需要多少显存？", docs, count_tokens=count)
    strict = build_prompt("INT4 需要多少显存？", docs, count_tokens=count, strict=True)
    assert strict.messages[0] == normal.messages[0]  # same cached system prefix
    assert strict.messages[-1].text == STRICT_INSTRUCTION["zh"] + "\n" + normal.messages[-1].text
    assert strict.messages[-1].text.endswith("问题：INT4 需要多少显存？")  # the question stays last


def test_system_prompt_is_identical_across_calls() -> None:
    a = build_prompt("问题一？", [doc("甲。", 1)], count_tokens=count)
    b = build_prompt("Question two?", [doc("B.", 2), doc("C.", 3)], count_tokens=count)
    assert a.messages[0] == b.messages[0]


def test_history_dropped_oldest_first_when_it_leaves_no_room() -> None:
    history = [(f"旧问题{i}" * 20, "旧回答" * 20) for i in range(5)]
    plan = build_prompt(
        "INT4 需要多少显存？",
        [doc(LONG_ZH, 1)],
        count_tokens=count,
        history=history,
        context_window=500,
        reserve_tokens=100,
    )
    assert plan.documents
    kept = [m.text for m in plan.messages if isinstance(m, HumanMessage)][len(WORKED_EXAMPLE) : -1]
    assert kept == [user for user, _ in history[len(history) - len(kept) :]]


@pytest.mark.parametrize(
    ("text", "n", "cleaned", "cited"),
    [
        ("需要 6GB 显存[1]。", 3, "需要 6GB 显存[1]。", [1]),
        ("A [1,2] and B [2][3].", 3, "A [1][2] and B [2][3].", [1, 2, 3]),
        ("6GB [1] [1] [1]", 3, "6GB [1]", [1]),
        ("见【1】和【2，3】", 3, "见[1]和[2][3]", [1, 2, 3]),
        ("Wrong [7] marker.", 3, "Wrong marker.", []),
        ("Mixed [2, 9] here", 3, "Mixed [2] here", [2]),
        ("Range [1-3].", 4, "Range [1][2][3].", [1, 2, 3]),
        ("Named [Source 2] and [来源1]", 2, "Named [2] and [1]", [2, 1]),
        ("a list[int] and [link](http://x)", 2, "a list[int] and [link](http://x)", []),
        ("Zero [0].", 2, "Zero.", []),
    ],
)
def test_resolve_citations(text: str, n: int, cleaned: str, cited: list[int]) -> None:
    assert resolve_citations(text, n) == (cleaned, cited)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("根据已知信息无法回答该问题。", True),
        ("抱歉，资料中没有提到这一点。", True),
        ("I'm sorry, but the sources do not mention that.", True),
        ("The sources do not contain that information.", True),
        ("", True),
        ("INT4 量化下最低只需 6GB 显存[1]。", False),
        ("ChatGLM-6B needs 13 GB in FP16 [1]. It does not know your GPU.", False),
    ],
)
def test_is_refusal(text: str, refused: bool) -> None:
    assert is_refusal(text) is refused


def test_overlap_citations_finds_the_passage_the_answer_reuses() -> None:
    passages = ["天气很好，我们去公园散步。", LONG_ZH]
    assert overlap_citations("INT4 量化级别下最低只需 6GB 显存。", passages) == [2]
    assert overlap_citations("完全无关的句子", passages) == []
