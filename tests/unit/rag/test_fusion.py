"""Tests for rag.fusion."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.fusion import iter_distinct, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], weights=[1.0, 1.0], k=60)
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [i for i, _ in fused] == ["b", "c", "a", "d"]


def test_rrf_weights_shift_the_order() -> None:
    dense, lexical = ["d1", "d2", "shared"], ["l1", "shared", "l2"]
    assert reciprocal_rank_fusion([dense, lexical], weights=[1.0, 1.0])[0][0] == "shared"
    dense_heavy = [i for i, _ in reciprocal_rank_fusion([dense, lexical], weights=[3.0, 1.0])]
    assert dense_heavy == ["shared", "d1", "d2", "l1", "l2"]
    lexical_heavy = [i for i, _ in reciprocal_rank_fusion([dense, lexical], weights=[1.0, 3.0])]
    assert lexical_heavy == ["shared", "l1", "l2", "d1", "d2"]
    lexical_only = reciprocal_rank_fusion([dense, lexical], weights=[0.0, 1.0])
    assert [i for i, _ in lexical_only][:3] == ["l1", "shared", "l2"]
    assert dict(lexical_only)["d1"] == 0.0


def test_rrf_counts_a_repeated_id_once_and_breaks_ties_by_first_appearance() -> None:
    fused = reciprocal_rank_fusion([["x", "y", "x"], ["y", "x"]], weights=[1.0, 1.0], k=0)
    assert fused == [("x", pytest.approx(1.5)), ("y", pytest.approx(1.5))]
    assert reciprocal_rank_fusion([["p", "q"], ["q", "p"]], weights=[1.0, 1.0])[0][0] == "p"
    assert reciprocal_rank_fusion([], weights=[]) == []


@pytest.mark.parametrize(
    ("rankings", "weights", "k"),
    [([["a"]], [1.0, 1.0], 60), ([["a"]], [-1.0], 60), ([["a"]], [1.0], -1)],
)
def test_rrf_rejects_bad_arguments(rankings: list[list[str]], weights: list[float], k: int) -> None:
    with pytest.raises(ValueError, match="weight|k must"):
        reciprocal_rank_fusion(rankings, weights=weights, k=k)


TEXTS = {
    "a": "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型。",
    "a-copy": "  chatglm-6b 是一个开源的、支持中英双语的对话语言模型。\n",  # same after normalising
    "b": "INT4 quantization needs only 6GB of GPU memory for inference on consumer cards.",
    "b-near": "INT4 quantization needs only 6GB of GPU memory for inference on consumer cards!!",
    "c": "INT4 quantization needs 13GB of GPU memory for training, far more than inference.",
    "a-edit": "ChatGLM-6B 是一个开源的，支持中英双语的对话语言模型！",  # punctuation differs only
    "empty": "!!!",
    "empty-copy": "!!!",
}


def test_collapse_keeps_the_best_of_each_near_duplicate_group() -> None:
    ranked = [
        ("b-near", 0.9),
        ("a", 0.8),
        ("b", 0.7),
        ("a-copy", 0.6),
        ("a-edit", 0.55),
        ("c", 0.5),
        ("empty", 0.4),
        ("empty-copy", 0.3),
    ]
    assert list(iter_distinct(ranked, TEXTS)) == [
        ("b-near", 0.9),
        ("a", 0.8),
        ("c", 0.5),
        ("empty", 0.4),
    ]


def test_collapse_threshold_and_unknown_ids() -> None:
    ranked = [("b", 1.0), ("c", 0.9), ("unknown", 0.8), ("unknown", 0.7)]
    assert list(iter_distinct(ranked, TEXTS)) == ranked
    # b and c share about a third of their character 4-grams.
    assert list(iter_distinct(ranked, TEXTS, threshold=0.3)) == [
        ("b", 1.0),
        ("unknown", 0.8),
        ("unknown", 0.7),
    ]
    with pytest.raises(ValueError, match="threshold"):
        iter_distinct(ranked, TEXTS, threshold=0.0)


def test_distinct_results_are_produced_lazily() -> None:
    def ranked() -> Iterator[tuple[str, float]]:
        yield "a", 1.0
        raise AssertionError("read past the first result")

    assert next(iter_distinct(ranked(), TEXTS)) == ("a", 1.0)


def test_passages_spelling_every_code_name_of_the_query_go_first() -> None:
    from rag.hybrid import _exact_names_first

    fused = [("guide", 0.03), ("table", 0.02), ("config", 0.01)]
    texts = {
        "guide": "ChatGLM-6B 的安装指南",
        "table": "量化等级: INT4 · 最低 GPU 显存: 6 GB",
        "config": "Variable: KB_LLM__MAX_TOKENS · Default: 384; run python api.py",
    }
    assert [i for i, _ in _exact_names_first("KB_LLM__MAX_TOKENS 默认值？", fused, texts)] == [
        "config",
        "guide",
        "table",
    ]
    assert _exact_names_first("kb_llm__max_tokens and api.py?", fused, texts)[0][0] == "config"
    # Hyphenated words are ordinary words: a passage lacking "ChatGLM-6B" is not pushed down for it.
    assert _exact_names_first("ChatGLM-6B INT4 显存", fused, texts) == fused
    # A name no passage spells changes nothing.
    assert _exact_names_first("KB_NOT_A_SETTING?", fused, texts) == fused
