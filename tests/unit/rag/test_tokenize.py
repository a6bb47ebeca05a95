"""Tests for rag.tokenize."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.tokenize import tokenize

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_chinese_is_segmented_into_words() -> None:
    tokens = tokenize("结合模型量化技术，用户可以在消费级的显卡上进行本地部署")
    for word in ["模型", "量化", "技术", "用户", "显卡", "本地", "部署"]:
        assert word in tokens
    assert "，" not in tokens
    assert "的" not in tokens  # stopword


def test_search_mode_also_emits_words_inside_compounds() -> None:
    tokens = tokenize("中华人民共和国")
    assert "中华人民共和国" in tokens
    assert "人民" in tokens
    assert "共和国" in tokens


def test_mixed_chinese_and_english() -> None:
    tokens = tokenize("ChatGLM-6B 是一个开源的对话语言模型，支持 INT4 量化")
    assert tokens[:2] == ["chatglm", "6b"]
    assert "开源" in tokens
    assert "int4" in tokens
    assert "量化" in tokens


def test_english_is_casefolded_and_stopwords_dropped() -> None:
    assert tokenize("The Quick, brown FOX -- jumps over the lazy dog!") == [
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("requires 7GB of memory", ["requires", "7gb", "memory"]),
        ("version 4.27.1 of transformers", ["version", "4.27.1", "transformers"]),
        ("pi is 3.14, not 3", ["pi", "3.14", "3"]),
        ("ＦＵＬＬＷＩＤＴＨ １２３", ["fullwidth", "123"]),  # NFKC folds full-width forms
        ("Straße", ["strasse"]),  # casefold, not lower
        ("snake_case_name", ["snake", "case", "name"]),
        ("... --- !!!", []),
        ("", []),
    ],
)
def test_normalisation(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_deterministic() -> None:
    text = (
        "P-Tuning v2 将需要微调的参数量减少到原来的 0.1%，再通过模型量化等方法，最低只需要 7GB 显存即可运行。"
    )
    assert tokenize(text) == tokenize(text)
    assert "0.1" in tokenize(text)


@pytest.mark.slow
def test_first_use_loads_jieba_silently() -> None:
    # A fresh interpreter, because this process may have loaded jieba already.
    code = "from rag.tokenize import tokenize; assert '模型' in tokenize('语言模型')"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.mark.slow
def test_import_does_not_load_jieba() -> None:
    code = (
        "import sys, rag.tokenize; assert 'jieba' not in sys.modules; rag.tokenize.tokenize('plain english')"
    )
    code += "; assert 'jieba' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
