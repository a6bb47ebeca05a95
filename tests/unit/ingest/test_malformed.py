"""ingest.loaders on broken, empty, encrypted and non-document files: a clean one-line error or text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import load_file
from kbtypes.errors import IngestError, UnsupportedFileType

MALFORMED = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "malformed"
# 76 pages through pypdf's pure-Python repair path.
SLOW = {"failure-after-repair.pdf"}


def _corpus() -> list[object]:
    if not MALFORMED.is_dir():
        return []
    return [
        pytest.param(path, id=path.name, marks=[pytest.mark.slow] if path.name in SLOW else [])
        for path in sorted(MALFORMED.iterdir())
    ]


@pytest.mark.parametrize("path", _corpus())
def test_malformed_file_loads_or_fails_cleanly(path: Path) -> None:
    try:
        blocks = load_file(path)
    except IngestError as e:  # UnsupportedFileType is a subclass
        message = str(e)
        assert message.strip() == message
        assert message
        assert "\n" not in message
        assert "Traceback" not in message
    else:
        assert blocks
        assert all(block.page_content.strip() for block in blocks)


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("simple.zip", UnsupportedFileType, "'.zip'"),
        ("fake.go", UnsupportedFileType, "'.go'"),
        ("file_we_dont_want_imported", UnsupportedFileType, "no extension"),
        ("empty.txt", IngestError, "no text"),
        ("fake-text-all-whitespace.txt", IngestError, "no text"),
        ("empty.eml", IngestError, "no text"),
        ("password.pdf", IngestError, "password"),
        ("password_protected.xlsx", IngestError, "password"),
    ],
)
def test_expected_failures(name: str, error: type[IngestError], reason: str) -> None:
    if not MALFORMED.is_dir():
        pytest.skip("shared corpora not available")

    with pytest.raises(error, match=reason):
        load_file(MALFORMED / name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("copy-protected.pdf", "LayoutParser"),
        ("umlauts-non-utf8.md", "können"),
        ("fake-incomplete-json.txt", '"name": "John Doe"'),
    ],
)
def test_recoverable_files_load(name: str, expected: str) -> None:
    if not MALFORMED.is_dir():
        pytest.skip("shared corpora not available")

    blocks = load_file(MALFORMED / name)

    assert expected in "\n\n".join(block.page_content for block in blocks)


def test_truncated_docx_is_an_ingest_error(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "report.docx"
    document = docx.Document()
    document.add_paragraph("soon to be cut in half")
    document.save(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(IngestError, match="docx"):
        load_file(path)


def test_pdf_garbage_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")

    with pytest.raises(IngestError, match="PDF"):
        load_file(path)
