"""Removing documents through the facade: hidden from searches at once, rows purged in the background."""

from __future__ import annotations

from pathlib import Path

from kb import KnowledgeBase, Workspace
from kb.settings import Settings
from kbtypes.retrieval import RetrievalOptions
from rag.embeddings import E5Embeddings


def _docs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    # Forty near-identical chunks (one paragraph each, 300+ characters against 500-character chunks): the
    # removed file owns every close neighbour of the query, so hiding it must look further down the ranking.
    shift = (
        " The operators noted no alarms, the coolant loop stayed within its limits and the log was signed."
    )
    paragraphs = [
        f"Reactor log {i}: the alpha reactor held 42 kelvin during shift {i}.{shift * 3}" for i in range(40)
    ]
    (root / "reactor-log.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    live = [
        f"{dish}: {method} " * 4
        for dish, method in [
            (
                "Rye bread",
                "Knead the dough with caraway seeds, let it rise under a cloth and bake it until brown.",
            ),
            ("Tomato soup", "Roast the tomatoes with garlic, blend them with stock and season with basil."),
            ("Apple pie", "Slice the apples thinly, toss them with cinnamon and sugar, cover with pastry."),
            ("Fried rice", "Stir-fry yesterday's rice with egg, spring onion and a splash of soy sauce."),
            ("Lemonade", "Squeeze six lemons, stir in sugar syrup and top up with cold sparkling water."),
        ]
    ]
    (root / "recipes.txt").write_text("\n\n".join(live), encoding="utf-8")
    return root


def _physical_ids(kb: KnowledgeBase) -> set[str]:
    return kb._index.store.all_ids()


def test_removed_document_is_gone_from_every_mode_before_its_rows_are(
    workspace: Workspace, e5: E5Embeddings, tmp_path: Path
) -> None:
    kb = workspace.open("removal", create=True)
    kb.ingest(_docs(tmp_path / "docs"), progress=None)
    removed = set(kb._manifest.get("reactor-log.txt").chunk_ids)  # type: ignore[union-attr]
    kb._ingestor.remove("reactor-log.txt")  # the facade's remove minus the background purge
    for mode in ("dense", "bm25", "hybrid"):
        hits = kb.search("alpha reactor 42 kelvin", RetrievalOptions(k=3, mode=mode))  # type: ignore[arg-type]
        assert {hit.source for hit in hits} <= {"recipes.txt"}, mode
    assert len(kb.search("alpha reactor 42 kelvin", RetrievalOptions(k=3, mode="dense"))) == 3
    nearest = kb._index.store.search(e5.embed_query("alpha reactor 42 kelvin"), 3)
    assert [chunk.metadata["source"] for chunk in nearest] == ["recipes.txt"] * 3
    assert removed <= _physical_ids(kb)
    assert kb.info().chunks == len(kb._manifest.owned_ids())
    kb.remove("recipes.txt")
    kb.wait_for_purge()
    assert _physical_ids(kb) == set()
    assert kb._manifest.retired_ids() == []


def test_rows_left_by_an_earlier_process_are_hidden_and_purged(
    settings: Settings, e5: E5Embeddings, tmp_path: Path
) -> None:
    first = Workspace(settings=settings, embeddings=e5)
    kb = first.open("removal", create=True)
    kb.ingest(_docs(tmp_path / "docs"))
    removed = set(kb._manifest.get("reactor-log.txt").chunk_ids)  # type: ignore[union-attr]
    kb._ingestor.remove("reactor-log.txt")
    first.close()  # exits with the rows still in Chroma, as after a kill during the purge

    second = Workspace(settings=settings, embeddings=e5)
    try:
        reopened = second.open("removal")
        hits = reopened.search("alpha reactor 42 kelvin", RetrievalOptions(k=3, mode="dense"))
        assert {hit.source for hit in hits} == {"recipes.txt"}
        reopened.wait_for_purge()
        assert not removed & _physical_ids(reopened)
        assert _physical_ids(reopened) == reopened._manifest.owned_ids()
    finally:
        second.close()


def test_deleting_a_knowledge_base_while_its_purge_runs(workspace: Workspace, tmp_path: Path) -> None:
    kb = workspace.open("removal", create=True)
    kb.ingest(_docs(tmp_path / "docs"))
    kb.remove("reactor-log.txt")
    workspace.delete("removal")  # stops the worker after its batch, then drops everything
    assert not kb.directory.exists()
    assert "removal" not in workspace.names()
