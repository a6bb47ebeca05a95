"""Reading ahead: outcomes come back in file order, and a stop does not read the rest of the folder."""

from __future__ import annotations

import threading
from pathlib import Path

from langchain_core.documents import Document

from ingest.loaders import load_file
from ingest.reading import ReadKind, read_ahead
from ingest.scan import Candidate, scan


def _folder(root: Path, count: int) -> list[Candidate]:
    root.mkdir()
    for n in range(count):
        (root / f"{n:02d}.md").write_text(f"# File {n}\n\nParagraph {n}.\n", encoding="utf-8")
    if count > 5:
        (root / "05.md").write_text("", encoding="utf-8")  # empty: the loader refuses it
    return [item for item in scan(root, root) if isinstance(item, Candidate)]


def test_outcomes_keep_file_order_and_files_are_read_off_the_calling_thread(tmp_path: Path) -> None:
    candidates = _folder(tmp_path / "docs", 8)
    readers: set[str] = set()

    def chunker(candidate: Candidate) -> list[Document]:
        readers.add(threading.current_thread().name)
        return load_file(candidate.path)

    reads = list(read_ahead(candidates, {}, chunker))
    assert [read.candidate.source for read in reads] == [c.source for c in candidates]
    kinds = {read.candidate.source: read.kind for read in reads}
    assert kinds.pop("05.md") is ReadKind.FAILED
    assert set(kinds.values()) == {ReadKind.CHANGED}
    assert all(read.sha256 for read in reads)
    assert readers
    assert threading.current_thread().name not in readers


def test_closing_early_stops_reading_ahead(tmp_path: Path) -> None:
    candidates = _folder(tmp_path / "docs", 30)
    read_files: list[str] = []

    def chunker(candidate: Candidate) -> list[Document]:
        read_files.append(candidate.source)
        return load_file(candidate.path)

    reads = read_ahead(candidates, {}, chunker, depth=2)
    first = next(reads)
    reads.close()
    assert first.candidate.source == "00.md"
    assert len(read_files) <= 4  # the one handed back, at most two ahead, and the one running at close


def test_a_vanished_file_is_unreadable_not_an_error(tmp_path: Path) -> None:
    candidates = _folder(tmp_path / "docs", 3)
    candidates[1].path.unlink()
    reads = list(read_ahead(candidates, {}, lambda c: load_file(c.path)))
    assert [read.kind for read in reads] == [ReadKind.CHANGED, ReadKind.UNREADABLE, ReadKind.CHANGED]
    assert "cannot read file" in reads[1].reason
