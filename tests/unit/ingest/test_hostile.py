"""Hostile and broken entries in a folder: each is reported by name and reason, and the rest lands.

Every case is generated here, small on disk: the 2 GB file is sparse, the zip bombs are real zips of
zeros sized to the limit under test.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from ingest.contained import ContainedParser, ParseLimits
from ingest.manifest import Manifest
from ingest.pipeline import Ingestor
from kbtypes.results import IngestReport
from rag.embeddings import E5Embeddings
from rag.index_writer import IndexWriter
from rag.lexical import LexicalIndex
from rag.store import ChromaChunkStore, chroma_client


def _ingestor(home: Path, e5: E5Embeddings, **options: object) -> Ingestor:
    store = ChromaChunkStore(chroma_client(persist_directory=home / "chroma"), "kb_hostile", e5)
    limits = options.pop("limits", ParseLimits())
    assert isinstance(limits, ParseLimits)
    return Ingestor(
        manifest=Manifest(home / "manifest.sqlite3"),
        index=IndexWriter(store, LexicalIndex(home / "lexical"), e5),
        chunk_size=200,
        chunk_overlap=0,
        limits=limits,
        follow_outside_links=bool(options.pop("follow_outside_links", False)),
    )


def _folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alpha.md").write_text("# Alpha\n\nThe alpha reactor runs at 42 kelvin.\n", encoding="utf-8")
    (docs / "beta.md").write_text("# Beta\n\nBees make honey in hives.\n", encoding="utf-8")
    return docs


def _landed(report: IngestReport) -> None:
    assert sorted(report.added) == ["alpha.md", "beta.md"]


def _reason(report: IngestReport, source: str) -> str:
    reasons = {failure.source: failure.reason for failure in report.failed}
    assert source in reasons, reasons
    return reasons[source]


def test_links_out_of_the_folder_pipes_devices_and_dangling_links_are_skipped(
    tmp_path: Path, e5: E5Embeddings
) -> None:
    docs = _folder(tmp_path)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:the secret outside the folder", encoding="utf-8")
    (docs / "passwd.txt").symlink_to(secret)
    (docs / "zero.txt").symlink_to("/dev/zero")
    (docs / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(docs / "pipe.txt")
    (docs / "inside.md").symlink_to(docs / "alpha.md")  # a link within the folder is fine
    ingestor = _ingestor(tmp_path / "kb", e5)
    started = time.monotonic()
    report = ingestor.ingest(docs)
    assert time.monotonic() - started < 60
    assert sorted(report.added) == ["alpha.md", "beta.md", "inside.md"]
    assert "outside the ingested folder" in _reason(report, "passwd.txt")
    assert "outside the ingested folder" in _reason(report, "zero.txt")
    assert "broken symbolic link" in _reason(report, "dangling.txt")
    assert "named pipe" in _reason(report, "pipe.txt")
    assert not ingestor.index.lexical.search("root secret", 5)  # type: ignore[attr-defined]

    allowed = _ingestor(tmp_path / "kb2", e5, follow_outside_links=True).ingest(docs)
    assert "passwd.txt" in allowed.added
    assert "a character device" in _reason(allowed, "zero.txt")


def test_a_2_gb_sparse_text_file_is_refused_without_being_read(tmp_path: Path, e5: E5Embeddings) -> None:
    docs = _folder(tmp_path)
    with (docs / "sparse.txt").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    started = time.monotonic()
    report = _ingestor(tmp_path / "kb", e5).ingest(docs)
    assert time.monotonic() - started < 60  # hashing 2 GB of holes is the only work
    assert "over the limit" in _reason(report, "sparse.txt")
    assert "KB_INGEST__MAX_CHARS_PER_FILE" in _reason(report, "sparse.txt")
    _landed(report)


def test_text_over_the_character_cap_is_refused(tmp_path: Path, e5: E5Embeddings) -> None:
    docs = _folder(tmp_path)
    (docs / "one-line.txt").write_text("word " * 20_000, encoding="utf-8")
    report = _ingestor(tmp_path / "kb", e5, limits=ParseLimits(max_chars=50_000)).ingest(docs)
    assert "99,999 characters of text, over the limit of 50,000" in _reason(
        report, "one-line.txt"
    )  # stripped
    _landed(report)


def _zip_of_zeros(path: Path, member: str, megabytes: int) -> None:
    block = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w", force_zip64=True) as handle:
            for _ in range(megabytes):
                handle.write(block)


@pytest.mark.parametrize(
    ("name", "member"), [("bomb.docx", "word/document.xml"), ("bomb.epub", "content.xhtml")]
)
def test_zip_bombs_are_refused_from_their_directory(
    tmp_path: Path, e5: E5Embeddings, name: str, member: str
) -> None:
    docs = _folder(tmp_path)
    _zip_of_zeros(docs / name, member, 40)
    assert (docs / name).stat().st_size < 200_000
    report = _ingestor(tmp_path / "kb", e5, limits=ParseLimits(max_archive_mb=16)).ingest(docs)
    assert "expands to 40 MB, over the limit of 16 MB" in _reason(report, name)
    _landed(report)


def test_a_parse_past_its_memory_limit_is_stopped_and_the_next_file_still_parses(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _zip_of_zeros(
        docs / "heavy.docx", "word/document.xml", 1200
    )  # declared honestly, under the archive limit
    (docs / "fine.md").write_text("# Fine\n\nStill parsed after the heavy one.\n", encoding="utf-8")
    parser = ContainedParser(ParseLimits(memory_mb=1536, max_archive_mb=4096))
    try:
        with pytest.raises(Exception, match="memory limit|KB_INGEST__PARSE_MEMORY_MB") as caught:
            parser.load(docs / "heavy.docx")
        assert "1536 MB" in str(caught.value)
        assert "Still parsed" in parser.load(docs / "fine.md")[0].page_content
    finally:
        parser.close()


def test_a_parse_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "long.docx"
    document = docx.Document()
    for n in range(30_000):
        document.add_paragraph(f"Paragraph {n} of a long report about sensor {n * 7}.")
    document.save(str(path))
    small = tmp_path / "small.docx"
    warm = docx.Document()
    warm.add_paragraph("A short document.")
    warm.save(str(small))
    parser = ContainedParser(ParseLimits())
    try:
        parser.load(small)  # the worker has imported its parsers: what follows times the parse alone
        parser.limits = ParseLimits(timeout_s=0.1)
        with pytest.raises(Exception, match=r"longer than 0.1 s \(KB_INGEST__PARSE_TIMEOUT_S\)"):
            parser.load(path)
        parser.limits = ParseLimits()
        assert parser.load(small)[0].page_content == "A short document."  # a new worker took over
    finally:
        parser.close()


def test_repeated_chunks_within_a_file_are_stored_once(tmp_path: Path, e5: E5Embeddings) -> None:
    docs = _folder(tmp_path)
    form = "Form 27B: this page is intentionally left blank for the inspector's notes."
    (docs / "forms.txt").write_text(
        "\n\n".join([form] * 400 + ["The last page names inspector Okafor."]), "utf-8"
    )
    ingestor = _ingestor(tmp_path / "kb", e5)
    report = ingestor.ingest(docs)
    record = ingestor.manifest.get("forms.txt")
    assert record is not None
    assert len(record.chunk_ids) <= 3
    hits = ingestor.index.lexical.search("alpha reactor kelvin", 3)  # type: ignore[attr-defined]
    assert hits
    assert "forms.txt" in report.added


def test_the_parser_works_when_the_process_holds_over_1024_descriptors(tmp_path: Path) -> None:
    # select() refuses descriptors numbered 1024 and up; a long-lived server or test session reaches them.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard if hard != resource.RLIM_INFINITY else 4096) < 1200:
        pytest.skip("the descriptor limit is under 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(max(0, 1100 - len(os.listdir("/proc/self/fd"))))]
    note = tmp_path / "note.txt"
    note.write_text("Descriptors past 1024 are fine.\n", encoding="utf-8")
    parser = ContainedParser(ParseLimits())
    try:
        assert parser.load(note)[0].page_content.strip() == "Descriptors past 1024 are fine."
    finally:
        parser.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
