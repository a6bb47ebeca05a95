"""pdfium reads PDFs for kb; pypdf is its fallback. On real files the two must tell the same text."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from ingest.pdf_reader import read_pdf, read_pdf_with_pdfium, read_pdf_with_pypdf
from kbtypes.errors import IngestError


def _words(pages: list[tuple[int, str]]) -> set[str]:
    """Words after the differences that are not content: ligatures, and pypdf's hyphenated line ends."""
    text = unicodedata.normalize("NFKC", "\n".join(text for _, text in pages))
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return set(re.findall(r"\w+", text.lower()))


def _pdfs(corpora: Path) -> list[Path]:
    found = sorted((corpora / "formats").glob("*.pdf")) + sorted((corpora / "malformed").glob("*.pdf"))
    return [path for path in found if path.name != "password.pdf"]


def test_pdfium_and_pypdf_agree_on_real_pdfs(corpora: Path) -> None:
    paths = _pdfs(corpora)
    assert len(paths) >= 8
    for path in paths:
        ours, theirs = read_pdf_with_pdfium(path), read_pdf_with_pypdf(path)
        assert [number for number, _ in ours] == [number for number, _ in theirs], path.name
        a, b = _words(ours), _words(theirs)
        assert len(a & b) / len(a | b) >= 0.9, (path.name, sorted(a ^ b)[:20])


def test_both_readers_refuse_a_password(corpora: Path) -> None:
    path = corpora / "malformed" / "password.pdf"
    for reader in (read_pdf_with_pdfium, read_pdf_with_pypdf, read_pdf):
        with pytest.raises(IngestError, match="password"):
            reader(path)


def test_pdfium_keeps_page_numbers_and_skips_blank_pages(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "three.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, "First page about apples")
    pdf.showPage()
    pdf.showPage()
    pdf.drawString(72, 720, "Third page about pears")
    pdf.save()
    assert read_pdf_with_pdfium(path) == [(1, "First page about apples"), (3, "Third page about pears")]
    assert [block.metadata["page"] for block in read_pdf(path)] == [1, 3]
