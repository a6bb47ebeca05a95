"""Tests for rag.lexical.LexicalIndex."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

import pytest

from kbtypes.errors import ConfigError
from rag.lexical import LexicalIndex

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path("/work/shared/corpora/zh-chatglm")
ZEN = [
    "Beautiful is better than ugly.",
    "Explicit is better than implicit.",
    "Simple is better than complex.",
    "Complex is better than complicated.",
    "Flat is better than nested.",
    "Sparse is better than dense.",
    "Readability counts.",
    "Special cases aren't special enough to break the rules.",
    "Although practicality beats purity.",
    "Errors should never pass silently.",
    "Unless explicitly silenced.",
    "In the face of ambiguity, refuse the temptation to guess.",
    "There should be one-- and preferably only one --obvious way to do it.",
    "Now is better than never.",
    "If the implementation is hard to explain, it's a bad idea.",
    "Namespaces are one honking great idea -- let's do more of those!",
]


def _meta(source: str) -> dict[str, str]:
    return {"source": source, "suffix": Path(source).suffix}


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[str, dict[str, str]]]:
    """Paragraph chunks of the ChatGLM docs: id -> (text, metadata)."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    chunks: dict[str, tuple[str, dict[str, str]]] = {}
    for path in sorted(CORPUS.glob("*.md")):
        paragraphs = [p for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if p.strip()]
        for number, paragraph in enumerate(paragraphs):
            chunks[f"{path.name}#{number}"] = (paragraph, _meta(path.name))
    return chunks


def _fill(index: LexicalIndex, chunks: dict[str, tuple[str, dict[str, str]]]) -> None:
    ids = list(chunks)
    index.upsert(ids, [chunks[i][0] for i in ids], [chunks[i][1] for i in ids])


def _zen_index(directory: Path) -> LexicalIndex:
    index = LexicalIndex(directory)
    index.upsert([f"zen-{n}" for n in range(len(ZEN))], ZEN, [_meta(f"zen/{n}.txt") for n in range(len(ZEN))])
    return index


def test_chinese_query_finds_the_faq_answer(
    tmp_path: Path, corpus: dict[str, tuple[str, dict[str, str]]]
) -> None:
    index = LexicalIndex(tmp_path / "bm25")
    _fill(index, corpus)
    hits = index.search("Mac 上量化模型缺乏 omp 只能单核运行怎么办", 3)
    assert hits[0][0].startswith("FAQ.md#")
    assert "缺乏omp" in corpus[hits[0][0]][0]
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_english_query_finds_the_english_readme(
    tmp_path: Path, corpus: dict[str, tuple[str, dict[str, str]]]
) -> None:
    index = LexicalIndex(tmp_path / "bm25")
    _fill(index, corpus)
    hits = index.search("how many billion parameters does the bilingual model have", 5)
    assert hits[0][0].startswith("README_en.md#")
    assert "6.2 billion parameters" in corpus[hits[0][0]][0]


def test_where_filters_by_metadata(tmp_path: Path, corpus: dict[str, tuple[str, dict[str, str]]]) -> None:
    index = LexicalIndex(tmp_path / "bm25")
    _fill(index, corpus)
    unfiltered = index.search("P-Tuning v2 显存", 50)
    assert {corpus[i][1]["source"] for i, _ in unfiltered} > {"ptuning_README.md"}
    hits = index.search("P-Tuning v2 显存", 5, where=lambda meta: fnmatch(meta["source"], "ptuning_*"))
    assert len(hits) == 5
    assert all(i.startswith("ptuning_README.md#") for i, _ in hits)
    # The filtered list is the unfiltered ranking restricted to matching chunks, not a re-ranking.
    assert hits == [hit for hit in unfiltered if hit[0].startswith("ptuning_README.md#")][:5]
    assert index.search("P-Tuning v2", 5, where=lambda meta: meta["suffix"] == ".pdf") == []


def test_where_looks_beyond_the_best_candidates(tmp_path: Path) -> None:
    # More candidates than the first block the filter inspects, and only the worst-ranked pass it.
    index = LexicalIndex(tmp_path)
    ids = [f"doc-{n:04d}" for n in range(1600)]
    index.upsert(
        ids,
        [f"{ZEN[n % len(ZEN)]} item{n}" for n in range(1600)],
        [_meta("rare.txt" if n >= 1500 else "common.txt") for n in range(1600)],
    )
    everything = index.search("better", 1600)
    assert len(everything) > 600
    assert index.search("better", 7) == everything[:7]  # equal scores rank by insertion order
    expected = [hit for hit in everything if hit[0] >= "doc-1500"][:7]
    assert len(expected) == 7
    assert index.search("better", 7, where=lambda meta: meta["source"] == "rare.txt") == expected
    assert index.search("better", 7, where=lambda meta: False) == []


def test_upsert_replaces_text_of_existing_id(tmp_path: Path) -> None:
    index = _zen_index(tmp_path)
    assert index.search("namespaces honking", 1)[0][0] == "zen-15"
    index.upsert(["zen-15"], ["Tabs versus spaces is a matter of taste."], [_meta("zen/15.txt")])
    assert index.search("namespaces honking", 5) == []
    assert index.search("tabs spaces", 5)[0][0] == "zen-15"
    assert len(index) == len(ZEN)


def test_repeated_id_in_one_call_keeps_the_last(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    index.upsert(["a", "b", "a"], ["first apple", "banana", "second cherry"], [_meta("x.txt")] * 3)
    assert index.ids() == {"a", "b"}
    assert index.search("apple", 3) == []
    assert index.search("cherry", 3)[0][0] == "a"


def test_delete_removes_and_ignores_missing(tmp_path: Path) -> None:
    index = _zen_index(tmp_path)
    index.delete(["zen-0", "zen-1", "no-such-id"])
    assert index.ids() == {f"zen-{n}" for n in range(2, len(ZEN))}
    assert len(index) == len(ZEN) - 2
    assert index.search("beautiful ugly explicit implicit", 5) == []
    index.delete(f"zen-{n}" for n in range(len(ZEN)))
    assert len(index) == 0
    assert index.search("better", 5) == []


def test_empty_query_and_k(tmp_path: Path) -> None:
    index = _zen_index(tmp_path)
    assert index.search("", 5) == []
    assert index.search("?!", 5) == []
    assert index.search("better", 0) == []
    assert len(index.search("better", 3)) == 3
    assert len(LexicalIndex(tmp_path / "empty").search("better", 3)) == 0


def test_invalid_upsert_leaves_the_index_unchanged(tmp_path: Path) -> None:
    index = _zen_index(tmp_path)
    with pytest.raises(ValueError, match="JSON"):
        index.upsert(["zen-0", "new"], ["replaced", "text"], [_meta("a.txt"), {"source": object()}])
    with pytest.raises(ValueError, match="aligned"):
        index.upsert(["zen-0", "b"], ["text"], [{}])
    assert len(index) == len(ZEN)
    assert index.search("beautiful ugly", 1)[0][0] == "zen-0"


def test_bad_parameters_and_foreign_tokenizer_version_raise(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="k1"):
        LexicalIndex(tmp_path, b=1.5)
    _zen_index(tmp_path).save()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"tokenizer": 1', '"tokenizer": 0'))
    with pytest.raises(ConfigError, match="tokenizer=0"):
        LexicalIndex(tmp_path)


def test_incremental_updates_score_like_a_fresh_build(
    tmp_path: Path, corpus: dict[str, tuple[str, dict[str, str]]]
) -> None:
    # Many small upserts, replacements and deletes force tier merges and compactions; the result must
    # rank and score exactly like one index built in a single call from the surviving chunks.
    ids = list(corpus)
    incremental = LexicalIndex(tmp_path / "incremental")
    for start in range(0, len(ids), 7):
        batch = ids[start : start + 7]
        incremental.upsert(batch, [corpus[i][0] for i in batch], [corpus[i][1] for i in batch])
    incremental.delete(ids[::3])
    incremental.upsert(ids[::6], [corpus[i][0] for i in ids[::6]], [corpus[i][1] for i in ids[::6]])
    incremental.save()
    incremental = LexicalIndex(tmp_path / "incremental")
    survivors = [i for n, i in enumerate(ids) if n % 3 != 0 or n % 6 == 0]
    fresh = LexicalIndex(tmp_path / "fresh")
    _fill(fresh, {i: corpus[i] for i in survivors})
    assert incremental.ids() == fresh.ids() == set(survivors)
    for query in ["量化 显存 INT4", "openmp gcc Windows", "微调 P-Tuning", "GPU memory quantization level"]:
        got, want = incremental.search(query, 10), fresh.search(query, 10)
        assert {i for i, _ in got} == {i for i, _ in want}
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9)


def test_save_and_load_round_trip(tmp_path: Path, corpus: dict[str, tuple[str, dict[str, str]]]) -> None:
    index = LexicalIndex(tmp_path / "bm25")
    _fill(index, corpus)
    index.delete([i for i in corpus if i.startswith("UPDATE.md#")])
    index.save()
    loaded = LexicalIndex(tmp_path / "bm25")
    assert loaded.ids() == index.ids()
    only_md = lambda meta: meta["suffix"] == ".md"  # noqa: E731
    for query in ["ChatGLM-6B 量化", "fine-tuning GPU memory"]:
        assert loaded.search(query, 10, where=only_md) == index.search(query, 10, where=only_md)
    # Changes after a reload are saved incrementally too.
    loaded.upsert(["extra"], ["一段全新的关于显卡的说明"], [_meta("new.md")])
    loaded.save()
    again = LexicalIndex(tmp_path / "bm25")
    assert again.ids() == index.ids() | {"extra"}
    assert again.search("全新 说明", 1)[0][0] == "extra"


def test_stray_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    index = _zen_index(tmp_path)
    index.save()
    before = sorted(p.name for p in tmp_path.iterdir())
    # What a writer killed mid-save leaves behind: a half-written temp file and a finished segment
    # file that no manifest refers to yet.
    (tmp_path / ".manifest.json.tmp-999999").write_text('{"format": 1, "segm')
    (tmp_path / "seg-999999.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "notes.txt").write_text("not ours")
    loaded = LexicalIndex(tmp_path)
    assert loaded.ids() == index.ids()
    loaded.save()
    after = sorted(p.name for p in tmp_path.iterdir())
    assert len(after) == len(before) + 1
    assert "notes.txt" in after
    assert ".manifest.json.tmp-999999" not in after
    assert "seg-999999.npz" not in after
    assert LexicalIndex(tmp_path).ids() == index.ids()


def test_corrupt_referenced_file_raises_config_error(tmp_path: Path) -> None:
    _zen_index(tmp_path).save()
    segment = next(tmp_path.glob("seg-*.npz"))
    segment.write_bytes(segment.read_bytes()[:100])
    with pytest.raises(ConfigError, match="re-ingest"):
        LexicalIndex(tmp_path)


_WRITER = """
import sys
from pathlib import Path
from rag.lexical import LexicalIndex

ZEN = sys.argv[2].split("|")
index = LexicalIndex(Path(sys.argv[1]))
ids = index.ids()
round_ = 1 + max((int(i.split("-")[0]) for i in ids), default=-1)
while True:
    batch = [f"{round_}-{n}" for n in range(400)]
    texts = [f"{ZEN[n % len(ZEN)]} round{round_}" for n in range(400)]
    index.upsert(batch, texts, [{"source": f"r{round_}.txt", "suffix": ".txt"}] * 400)
    index.delete(i for i in index.ids() if int(i.split("-")[0]) == round_ - 2)
    index.save()
    print(round_, flush=True)
    round_ += 1
"""


@pytest.mark.slow
def test_killed_writer_leaves_a_whole_saved_state(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    rounds_seen = []
    for delay in [0.05, 0.3, 0.15]:
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), "|".join(ZEN)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        # Kill at varying moments after the writer's first save of this run, so most kills land
        # in the middle of a later save.
        first_round = int(writer.stdout.readline())
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        index = LexicalIndex(tmp_path)
        last = max(int(i.split("-")[0]) for i in index.ids())
        assert last >= first_round
        rounds_seen.append(last)
        # Each save holds exactly the last two rounds, 400 chunks each, and their text.
        expected = {f"{r}-{n}" for r in (last - 1, last) if r >= 0 for n in range(400)}
        assert index.ids() == expected
        assert len(index) == len(expected)
        assert {i for i, _ in index.search(f"round{last}", 1000)} == {f"{last}-{n}" for n in range(400)}
    assert rounds_seen == sorted(rounds_seen)
