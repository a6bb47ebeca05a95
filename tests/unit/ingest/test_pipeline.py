"""Incremental ingest on real parts: real loaders, the real e5 embedder, an embedded Chroma, BM25."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingest.manifest import Manifest
from ingest.pipeline import Ingestor
from rag.embeddings import E5Embeddings
from rag.index_writer import IndexWriter
from rag.lexical import LexicalIndex
from rag.store import ChromaChunkStore, chroma_client


class CountingEmbeddings(E5Embeddings):
    """The real default embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture(scope="module")
def counting() -> CountingEmbeddings:
    return CountingEmbeddings()


def _ingestor(home: Path, embeddings: CountingEmbeddings, *, chunk_size: int = 200) -> Ingestor:
    store = ChromaChunkStore(chroma_client(persist_directory=home / "chroma"), "kb_test", embeddings)
    return Ingestor(
        manifest=Manifest(home / "manifest.sqlite3"),
        index=IndexWriter(store, LexicalIndex(home / "lexical"), embeddings),
        chunk_size=chunk_size,
        chunk_overlap=0,
        batch_size=8,
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    _write(root / "alpha.md", "# Alpha\n\nThe alpha reactor runs at 42 kelvin.\n\nIt was built in 1999.\n")
    _write(root / "beta.txt", "量子计算机使用量子比特。\n\n它们在低温下运行。\n")
    _write(root / "sub" / "gamma.txt", "Gamma rays are photons with very high energy.\n")
    return root


def _consistent(ingestor: Ingestor) -> set[str]:
    owned = ingestor.manifest.owned_ids()
    assert ingestor.index.store.all_ids() == owned  # type: ignore[attr-defined]
    assert ingestor.index.lexical.ids() == owned
    return owned


def test_cold_ingest_indexes_every_file_with_provenance(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    report = ingestor.ingest(docs)
    assert sorted(report.added) == ["alpha.md", "beta.txt", "sub/gamma.txt"]
    assert not report.failed
    owned = _consistent(ingestor)
    chunks = ingestor.index.store.get(sorted(owned))  # type: ignore[attr-defined]
    assert {c.metadata["source"] for c in chunks} == {"alpha.md", "beta.txt", "sub/gamma.txt"}
    for chunk in chunks:
        assert chunk.metadata["content_hash"]
        assert chunk.metadata["chunk_index"] >= 0
        assert chunk.metadata["start"] >= 0


def test_unchanged_reingest_embeds_nothing(tmp_path: Path, docs: Path, counting: CountingEmbeddings) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    before = len(counting.embedded)
    report = ingestor.ingest(docs)
    assert len(counting.embedded) == before
    assert sorted(report.unchanged) == ["alpha.md", "beta.txt", "sub/gamma.txt"]
    assert report.chunks_written == 0


def test_a_new_chunking_recipe_rechunks_unchanged_files_once(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    _write(
        docs / "long.md",
        "\n\n".join(f"Paragraph {n} says the pump {n} runs at {n * 7} rpm." for n in range(30)),
    )
    first = _ingestor(tmp_path / "kb", counting, chunk_size=400)
    first.ingest(docs)
    wide = _consistent(first)

    smaller = _ingestor(tmp_path / "kb", counting, chunk_size=120)
    rechunked = smaller.ingest(docs)

    assert "long.md" in rechunked.updated
    assert not rechunked.failed
    assert len(_consistent(smaller)) > len(wide)
    assert all(
        len(chunk.text) <= 120 for chunk in smaller.index.store.get(sorted(smaller.manifest.owned_ids()))
    )  # type: ignore[attr-defined]
    again = smaller.ingest(docs)
    assert sorted(again.unchanged) == ["alpha.md", "beta.txt", "long.md", "sub/gamma.txt"]


def test_touched_but_identical_file_is_not_reparsed(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    before = len(counting.embedded)
    os.utime(docs / "alpha.md", ns=(1, 1))
    report = ingestor.ingest(docs)
    assert "alpha.md" in report.unchanged
    assert len(counting.embedded) == before
    assert ingestor.manifest.get("alpha.md").mtime_ns == 1  # type: ignore[union-attr]


def test_edited_file_reembeds_only_its_new_text(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    old_ids = set(ingestor.manifest.get("alpha.md").chunk_ids)  # type: ignore[union-attr]
    before = len(counting.embedded)
    _write(docs / "alpha.md", "# Alpha\n\nThe alpha reactor runs at 42 kelvin.\n\nIt was rebuilt in 2024.\n")
    report = ingestor.ingest(docs)
    assert report.updated == ["alpha.md"]
    new_texts = counting.embedded[before:]
    assert new_texts, "the edited paragraph must be embedded"
    assert all("2024" in text for text in new_texts)
    owned = _consistent(ingestor)
    assert not (old_ids - set(ingestor.manifest.get("alpha.md").chunk_ids)) & owned  # type: ignore[union-attr]


def test_removed_file_leaves_the_index(tmp_path: Path, docs: Path, counting: CountingEmbeddings) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    gone = set(ingestor.manifest.get("sub/gamma.txt").chunk_ids)  # type: ignore[union-attr]
    shutil.rmtree(docs / "sub")
    report = ingestor.ingest(docs)
    assert report.removed == ["sub/gamma.txt"]
    assert not gone & ingestor.index.store.all_ids()  # type: ignore[attr-defined]
    assert not gone & ingestor.index.lexical.ids()
    _consistent(ingestor)


def test_no_delete_keeps_missing_files(tmp_path: Path, docs: Path, counting: CountingEmbeddings) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    (docs / "beta.txt").unlink()
    report = ingestor.ingest(docs, delete_missing=False)
    assert report.removed == []
    assert ingestor.manifest.get("beta.txt") is not None


def test_identical_text_is_embedded_once(tmp_path: Path, counting: CountingEmbeddings) -> None:
    root = tmp_path / "dup"
    text = "Shared boilerplate paragraph about licensing terms.\n"
    _write(root / "one.txt", text)
    _write(root / "two.txt", text)
    ingestor = _ingestor(tmp_path / "kb", counting)
    before = len(counting.embedded)
    ingestor.ingest(root)
    assert counting.embedded[before:].count(text.strip()) == 1
    assert len(_consistent(ingestor)) == 2


def test_broken_file_is_reported_and_the_rest_lands(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "archive.zip").write_bytes(b"PK\x03\x04 not a document")
    ingestor = _ingestor(tmp_path / "kb", counting)
    report = ingestor.ingest(docs)
    failed = {f.source: f.reason for f in report.failed}
    assert set(failed) == {"broken.pdf", "archive.zip"}
    assert all(reason and "\n" not in reason for reason in failed.values())
    assert sorted(report.added) == ["alpha.md", "beta.txt", "sub/gamma.txt"]
    # A failed file is not retried until it changes, but is still reported.
    again = ingestor.ingest(docs)
    assert {f.source for f in again.failed} == {"broken.pdf", "archive.zip"}


def test_interrupted_write_is_swept_on_next_run(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    """A run that died between ``begin`` and ``commit`` leaves orphans; the next run removes them."""
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    record = ingestor.manifest.get("beta.txt")
    assert record is not None
    # Reproduce the on-disk state a kill leaves: pending ids announced and written, commit never reached.
    orphan_text = "这段文字只写进了向量库，清单从未提交。"
    vector = counting.embed_documents([orphan_text])
    ingestor.manifest.begin(
        "beta.txt",
        root=record.root,
        size=record.size,
        mtime_ns=record.mtime_ns,
        sha256=record.sha256,
        pending_ids=["orphan-id"],
    )
    ingestor.index.store.upsert(
        ["orphan-id"], [orphan_text], [{"source": "beta.txt", "content_hash": "x"}], vector
    )
    ingestor.index.lexical.upsert(["orphan-id"], [orphan_text], [{"source": "beta.txt"}])
    report = ingestor.ingest(docs)
    assert report.recovered
    owned = _consistent(ingestor)
    assert "orphan-id" not in owned
    assert ingestor.manifest.get("beta.txt").status == "indexed"  # type: ignore[union-attr]


def test_remove_hides_at_once_and_purge_deletes_the_rows(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    gone = set(ingestor.manifest.get("alpha.md").chunk_ids)  # type: ignore[union-attr]
    store: ChromaChunkStore = ingestor.index.store  # type: ignore[assignment]
    assert ingestor.remove("alpha.md")
    assert ingestor.manifest.get("alpha.md") is None
    assert not gone & ingestor.index.lexical.ids()
    assert gone <= store.all_ids(), "rows are deleted later, by purge"
    assert ingestor.manifest.chunk_count() == len(ingestor.manifest.owned_ids())
    query = counting.embed_query("alpha reactor 42 kelvin")
    hits = store.search(query, 10)
    assert hits
    assert not gone & {hit.id for hit in hits}
    assert store.get(sorted(gone)) == []
    assert ingestor.purge() == len(gone)
    assert ingestor.manifest.retired_ids() == []
    assert store.hidden_count == 0
    _consistent(ingestor)


def test_readding_a_removed_file_before_the_purge_makes_it_visible(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    """Same file, same chunk ids: ingest purges the retired rows first, or it would write rows still hidden."""
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    ids = set(ingestor.manifest.get("alpha.md").chunk_ids)  # type: ignore[union-attr]
    ingestor.remove("alpha.md")
    ingestor.ingest(docs)
    assert set(ingestor.manifest.get("alpha.md").chunk_ids) == ids  # type: ignore[union-attr]
    store: ChromaChunkStore = ingestor.index.store  # type: ignore[assignment]
    hits = store.search(counting.embed_query("alpha reactor 42 kelvin"), 3)
    assert hits[0].metadata["source"] == "alpha.md"
    _consistent(ingestor)


def test_purge_cut_short_resumes_after_reopening(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    gone = set(ingestor.manifest.get("beta.txt").chunk_ids) | set(  # type: ignore[union-attr]
        ingestor.manifest.get("alpha.md").chunk_ids  # type: ignore[union-attr]
    )
    ingestor.remove("alpha.md")
    ingestor.remove("beta.txt")
    assert ingestor.purge(batch_size=1, limit=1) == 1
    ingestor.manifest.close()
    # A new process: the retired list on disk is all it knows.
    reopened = _ingestor(tmp_path / "kb", counting)
    assert set(reopened.manifest.retired_ids()) | (gone - reopened.index.store.all_ids()) == gone  # type: ignore[attr-defined]
    assert reopened.purge() == len(gone) - 1
    _consistent(reopened)


def test_rows_retired_by_a_killed_process_leave_both_indexes_on_reopen(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    """A kill after the manifest retired a file but before the lexical index was saved."""
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    gone = set(ingestor.manifest.retire("alpha.md"))
    ingestor.manifest.close()  # nothing else ran: BM25 on disk and the store still hold the file
    reopened = _ingestor(tmp_path / "kb", counting)
    assert gone <= reopened.index.lexical.ids()
    assert reopened.hide_retired() == len(gone)
    assert not gone & reopened.index.lexical.ids()
    store: ChromaChunkStore = reopened.index.store  # type: ignore[assignment]
    assert store.hidden_count == len(gone)
    assert reopened.purge() == len(gone)
    _consistent(reopened)


def test_indexed_file_that_turns_unreadable_leaves_the_index(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    ingestor.ingest(docs)
    old = set(ingestor.manifest.get("beta.txt").chunk_ids)  # type: ignore[union-attr]
    (docs / "beta.txt").write_bytes(b"\x00\x01\x02\xff" * 64)
    report = ingestor.ingest(docs)
    assert [f.source for f in report.failed] == ["beta.txt"]
    assert ingestor.manifest.get("beta.txt").status == "failed"  # type: ignore[union-attr]
    assert not old & ingestor.index.store.all_ids()  # type: ignore[attr-defined]
    assert not old & ingestor.index.lexical.ids()
    _consistent(ingestor)


class _StopAfterFirstSlice:
    """A progress receiver that asks to stop as soon as anything was embedded (a server shutting down)."""

    def __init__(self) -> None:
        self.asked = 0

    def start(self, files: int, total_bytes: int) -> None:
        pass

    def file_done(self, source: str, chunks: int, size: int) -> None:
        pass

    def embedding(self, done: int, total: int, size: int) -> None:
        pass

    def cancelled(self) -> bool:
        self.asked += 1
        return True


def test_a_stop_during_a_large_batch_writes_nothing_of_it(
    tmp_path: Path, counting: CountingEmbeddings
) -> None:
    docs = tmp_path / "docs"
    # One file of ~80 chunks of 200 characters: one batch, embedded in slices of 64 with a stop check between.
    _write(docs / "long.md", "\n\n".join(f"Paragraph {n} tells about item {n * 13}." for n in range(400)))
    ingestor = _ingestor(tmp_path / "kb", counting)
    stopper = _StopAfterFirstSlice()
    report = ingestor.ingest(docs, progress=stopper)  # type: ignore[arg-type]
    assert report.stopped
    assert stopper.asked >= 1
    assert report.added == []
    assert ingestor.manifest.get("long.md") is None
    assert _consistent(ingestor) == set()
    again = ingestor.ingest(docs)
    assert again.added == ["long.md"]
    assert not again.stopped


def test_a_named_file_that_vanished_fails_alone(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    report = ingestor.ingest(docs, files=[docs / "alpha.md", docs / "gone.md"])
    assert report.added == ["alpha.md"]
    assert [(f.source, "gone" in f.reason) for f in report.failed] == [("gone.md", True)]


class _Recorder:
    def __init__(self) -> None:
        self.total = (0, 0)
        self.done: list[tuple[str, int, int]] = []
        self.embedding_steps: list[tuple[int, int, int]] = []

    def embedding(self, done: int, total: int, size: int) -> None:
        self.embedding_steps.append((done, total, size))

    def start(self, files: int, total_bytes: int) -> None:
        self.total = (files, total_bytes)

    def file_done(self, source: str, chunks: int, size: int) -> None:
        self.done.append((source, chunks, size))

    def cancelled(self) -> bool:
        return False


def test_progress_counts_bytes_so_a_bar_can_show_rate_and_eta(
    tmp_path: Path, docs: Path, counting: CountingEmbeddings
) -> None:
    ingestor = _ingestor(tmp_path / "kb", counting)
    recorder = _Recorder()
    report = ingestor.ingest(docs, progress=recorder)
    sizes = {p.relative_to(docs).as_posix(): p.stat().st_size for p in docs.rglob("*") if p.is_file()}
    assert recorder.total == (len(sizes), sum(sizes.values()))
    assert sorted((source, size) for source, _, size in recorder.done) == sorted(sizes.items())
    assert sum(chunks for _, chunks, _ in recorder.done) == report.chunks_written
    assert report.text_bytes > 0
    assert report.embed_tokens >= 2 * report.chunks_embedded > 0  # <s>, </s> and the text


def test_a_big_file_moves_the_progress_while_it_embeds(tmp_path: Path, counting: CountingEmbeddings) -> None:
    docs = tmp_path / "docs"
    # About 200 chunks of 200 characters: one file, one batch, embedded in slices of 64.
    _write(
        docs / "big.md", "\n\n".join(f"Section {n} lists part {n * 17} and its weight." for n in range(1000))
    )
    recorder = _Recorder()

    _ingestor(tmp_path / "kb", counting).ingest(docs, progress=recorder)

    size = (docs / "big.md").stat().st_size
    steps = recorder.embedding_steps
    assert len(steps) >= 2
    assert [done for done, _, _ in steps] == sorted({done for done, _, _ in steps})  # it only moves forward
    assert all(0 < done < total and step_size == size for done, total, step_size in steps)
    assert recorder.done == [("big.md", recorder.done[0][1], size)]  # the file itself finishes after
