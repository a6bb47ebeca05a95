"""The ``kb`` CLI end to end on real documents (typer's CliRunner, real models and stores)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.cli import app

runner = CliRunner()

ZH_FILES = ("FAQ.md", "UPDATE.md", "ptuning_README.md")


def _invoke(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"KB_HOME": str(home)})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def zh_home(tmp_path_factory: pytest.TempPathFactory, corpora: Path) -> Path:
    """A home with a knowledge base built from three zh-chatglm documents through ``kb ingest``."""
    root = tmp_path_factory.mktemp("zh")
    docs = root / "docs"
    docs.mkdir()
    for name in ZH_FILES:
        shutil.copy(corpora / "zh-chatglm" / name, docs / name)
    code, out, err = _invoke(root / "home", "ingest", str(docs), "--kb", "zh", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["added"] == 3
    assert summary["failed"] == 0
    assert summary["embedder_tokens"] > summary["embedded"] > 0
    assert summary["embedder_tokens_per_s"] > 0
    assert 0 < summary["text_kb"] <= sum((docs / name).stat().st_size for name in ZH_FILES) / 1024
    assert summary["text_kb_per_s"] > 0
    return root


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Mac 上加载量化模型时报错 unsupported option '-fopenmp' 怎么办？", "FAQ.md"),
        ("P-Tuning v2 微调需要安装哪些依赖？", "ptuning_README.md"),
        ("VisualGLM-6B 是什么时候发布的？", "UPDATE.md"),
        ("ADGEN 广告生成数据集的格式是什么样的？", "ptuning_README.md"),
    ],
)
def test_search_finds_the_right_chinese_file(zh_home: Path, question: str, expected: str) -> None:
    code, out, err = _invoke(
        zh_home / "home", "search", question, "--kb", "zh", "-k", "3", "--json", "--mode", "dense"
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["query"] == question
    first = payload["results"][0]
    assert set(first) == {"source", "page", "chunk_id", "score", "text"}
    assert first["source"] == expected


def test_search_as_a_fresh_process_loads_neither_the_chroma_client_nor_langchain(zh_home: Path) -> None:
    """``kb search`` reads through Chroma's engine and embeds with the plain e5 model, so it starts fast."""
    question = "P-Tuning v2 微调需要安装哪些依赖？"
    probe = (
        "import atexit, runpy, sys\n"
        "heavy = ('chromadb', 'langchain_core.runnables', 'langchain_text_splitters')\n"
        "atexit.register(lambda: sys.stderr.write('LOADED=' + ','.join(m for m in heavy if m in sys.modules)))\n"
        "sys.argv = ['kb', 'search', sys.argv[1], '--kb', 'zh', '-k', '3', '--json']\n"
        "runpy.run_module('kb', run_name='__main__', alter_sys=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")} | {
        "KB_HOME": str(zh_home / "home")
    }
    result = subprocess.run(
        [sys.executable, "-c", probe, question],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("LOADED=")
    fresh = json.loads(result.stdout)["results"]
    code, out, err = _invoke(zh_home / "home", "search", question, "--kb", "zh", "-k", "3", "--json")
    assert code == 0, err
    in_process = json.loads(out)["results"]
    assert [r["chunk_id"] for r in fresh] == [r["chunk_id"] for r in in_process]
    assert fresh[0]["source"] == "ptuning_README.md"


def test_reingest_unchanged_is_a_no_op(zh_home: Path) -> None:
    code, out, err = _invoke(zh_home / "home", "ingest", str(zh_home / "docs"), "--kb", "zh", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["unchanged"] == 3
    assert summary["embedded"] == 0


def test_list_docs_remove_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Apples are red or green.", encoding="utf-8")
    (docs / "b.txt").write_text("Bananas are yellow.", encoding="utf-8")
    assert _invoke(home, "ingest", str(docs), "--kb", "fruit")[0] == 0

    code, out, _ = _invoke(home, "list")
    assert code == 0
    assert "fruit" in out
    code, out, _ = _invoke(home, "docs", "--kb", "fruit")
    assert code == 0
    assert "a.txt" in out
    assert "b.txt" in out

    assert _invoke(home, "remove", "a.txt", "--kb", "fruit")[0] == 0
    code, out, _ = _invoke(home, "docs", "--kb", "fruit")
    assert "a.txt" not in out
    assert "b.txt" in out
    code, _, err = _invoke(home, "remove", "a.txt", "--kb", "fruit")
    assert code == 1
    assert "no document" in err

    assert _invoke(home, "delete", "fruit", "--yes")[0] == 0
    code, _, err = _invoke(home, "docs", "--kb", "fruit")
    assert code == 1
    assert "no knowledge base named 'fruit'" in err


def test_failed_files_are_named_and_exit_1(tmp_path: Path, corpora: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpora / "malformed" / "password.pdf", docs / "password.pdf")
    shutil.copy(corpora / "malformed" / "empty.txt", docs / "empty.txt")
    (docs / "good.txt").write_text("This file is fine and must still be indexed.", encoding="utf-8")
    code, out, err = _invoke(tmp_path / "home", "ingest", str(docs), "--kb", "mixed")
    assert code == 1
    assert "added 1" in out
    assert "password.pdf" in err
    assert "empty.txt" in err
    assert "Traceback" not in err


def test_invalid_kb_name_is_rejected(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("x", encoding="utf-8")
    code, _, err = _invoke(tmp_path / "home", "ingest", str(docs), "--kb", "../escape")
    assert code == 1
    assert "invalid knowledge base name" in err
