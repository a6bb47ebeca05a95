"""Upload names: nothing a client sends may escape the uploads folder or reach the disk unchecked."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import HTTPException

from kb import UnsupportedFileType
from server.uploads import commit, delete_upload, safe_filename, stage_text


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("notes.md", "notes.md"),
        ("docs/guide.md", "guide.md"),
        ("C-drive-free name.txt", "C-drive-free name.txt"),
        ("说明.md", "说明.md"),
        ("windows\\path\\a.txt", "a.txt"),
    ],
)
def test_plain_names_are_kept_without_directories(name: str, stored: str) -> None:
    assert safe_filename(name) == stored


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "../etc/passwd.txt",
        "a/../../b.txt",
        "..",
        "/etc/passwd.txt",
        "\\\\server\\share\\a.txt",
        "C:\\Windows\\a.txt",
        "a\x00.txt",
        "a\nb.txt",
        "bell\x07.md",
        ".hidden.md",
        "x" * 300 + ".txt",
        "dir/",
    ],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(HTTPException) as info:
        safe_filename(name)
    assert info.value.status_code == 400


@pytest.mark.parametrize("name", ["malware.exe", "archive.tar.gz", "README"])
def test_unsupported_types_are_refused(name: str) -> None:
    with pytest.raises(UnsupportedFileType):
        safe_filename(name)


def test_text_documents_get_a_text_suffix_and_a_stable_default_name(tmp_path: Path) -> None:
    staged = stage_text("hello", "", tmp_path, max_bytes=100)
    assert staged.target.name.startswith("text-")
    assert staged.target.suffix == ".txt"
    assert stage_text("hello", "notes", tmp_path, max_bytes=100).target.name == "notes.txt"
    with pytest.raises(UnsupportedFileType):
        stage_text("hello", "fake.pdf", tmp_path, max_bytes=100)
    with pytest.raises(HTTPException) as info:
        stage_text("x" * 101, "big.txt", tmp_path, max_bytes=100)
    assert info.value.status_code == 413


def test_commit_moves_staged_files_and_delete_stays_inside(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    [saved] = commit([stage_text("hello", "a.md", uploads, max_bytes=100)])
    assert saved == uploads / "a.md"
    assert saved.read_text() == "hello"
    assert [p.name for p in uploads.iterdir()] == ["a.md"]  # no temporary file left behind
    outside = tmp_path / "outside.md"
    outside.write_text("keep")
    delete_upload(uploads, "../outside.md")
    assert outside.exists()
    delete_upload(uploads, "a.md")
    assert not saved.exists()
