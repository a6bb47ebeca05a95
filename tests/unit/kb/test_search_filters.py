"""Search through the facade: modes, metadata filters and the score threshold, on a real small KB."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase, Workspace
from kbtypes.retrieval import RetrievalOptions


@pytest.fixture
def kb(workspace: Workspace, tmp_path: Path) -> KnowledgeBase:
    docs = tmp_path / "docs"
    (docs / "manuals").mkdir(parents=True)
    (docs / "manuals" / "pump.md").write_text(
        "# Pump P-200\n\nThe P-200 pump delivers 35 litres per minute at 3 bar.\n", encoding="utf-8"
    )
    (docs / "manuals" / "valve.txt").write_text(
        "The V-9 valve closes within 40 milliseconds.\n", encoding="utf-8"
    )
    (docs / "notes.txt").write_text("水泵 P-200 每分钟输送 35 升水，工作压力为 3 巴。\n", encoding="utf-8")
    knowledge_base = workspace.open("filters", create=True)
    knowledge_base.ingest(docs)
    return knowledge_base


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_finds_the_pump(kb: KnowledgeBase, mode: str) -> None:
    hits = kb.search(
        "How many litres per minute does the P-200 pump deliver?", RetrievalOptions(k=3, mode=mode)
    )  # type: ignore[arg-type]
    assert hits[0].source in {"manuals/pump.md", "notes.txt"}
    assert all(0.0 < hit.score <= 1.0 for hit in hits)


def test_source_glob_limits_results(kb: KnowledgeBase) -> None:
    hits = kb.search("P-200 pump litres", RetrievalOptions(k=5, mode="hybrid", source_glob="manuals/*"))
    assert hits
    assert {hit.source for hit in hits} <= {"manuals/pump.md", "manuals/valve.txt"}


def test_file_type_filter(kb: KnowledgeBase) -> None:
    hits = kb.search("P-200 pump litres", RetrievalOptions(k=5, mode="hybrid", file_types=["txt"]))
    assert hits
    assert {hit.source for hit in hits} <= {"manuals/valve.txt", "notes.txt"}


def test_glob_matching_nothing_returns_nothing(kb: KnowledgeBase) -> None:
    assert kb.search("pump", RetrievalOptions(k=5, mode="hybrid", source_glob="archive/*")) == []


def test_threshold_is_on_cosine_similarity_in_every_mode(kb: KnowledgeBase) -> None:
    unfiltered = kb.search("P-200 pump litres", RetrievalOptions(k=5, mode="bm25"))
    cut = sorted(hit.score for hit in unfiltered)[len(unfiltered) // 2]
    filtered = kb.search("P-200 pump litres", RetrievalOptions(k=5, mode="bm25", score_threshold=cut))
    assert filtered
    assert all(hit.score >= cut for hit in filtered)
    assert len(filtered) < len(unfiltered)
    assert kb.search("P-200 pump litres", RetrievalOptions(k=5, mode="hybrid", score_threshold=0.999)) == []


def test_a_setting_asked_for_by_name_comes_first_across_languages(workspace: Workspace) -> None:
    # Chinese questions about settings the English configuration reference names: dense ranks other
    # passages higher and fusion buried the one that spells the name (seen before the rule existed).
    knowledge_base = workspace.open("guide", create=True)
    knowledge_base.ingest(Path(__file__).resolve().parents[3] / "data" / "docs")
    for question in (
        "KB_INGEST__CHUNK_OVERLAP 的默认值是多少？",
        "KB_SERVER__MAX_UPLOAD_MB 默认多大？",
        "KB_RETRIEVAL__RERANK_MODEL 是干什么的？",
    ):
        name = question.split()[0]
        hits = knowledge_base.search(question, RetrievalOptions(k=3, mode="hybrid"))
        assert name in hits[0].text, (question, [hit.text[:60] for hit in hits])
