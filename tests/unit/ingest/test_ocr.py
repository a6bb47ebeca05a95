"""OCR of scanned pages and image files, in the contained parser, on pages rendered here (zh and en)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from ingest.contained import ContainedParser, ParseLimits
from tests.scans import CJK_FONT, PAGES, character_recall, render_page, write_scanned_pdf

pytestmark = pytest.mark.skipif(not CJK_FONT.is_file(), reason="fonts-wqy-microhei is not installed")


@pytest.fixture(scope="module")
def parser() -> ContainedParser:
    contained = ContainedParser(ParseLimits())
    yield contained  # type: ignore[misc]
    contained.close()


def test_an_image_only_pdf_is_read_page_by_page(tmp_path: Path, parser: ContainedParser) -> None:
    path = tmp_path / "scan.pdf"
    write_scanned_pdf(path, PAGES)
    blocks = parser.load(path)
    assert [block.metadata["page"] for block in blocks] == [1, 2]
    for block, lines in zip(blocks, PAGES, strict=True):
        assert character_recall("".join(lines), block.page_content) >= 0.95, block.page_content


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tiff", ".webp"])
def test_image_files_are_read(tmp_path: Path, parser: ContainedParser, suffix: str) -> None:
    path = tmp_path / f"photo{suffix}"
    render_page(PAGES[0] + PAGES[1][:1]).save(path)  # type: ignore[attr-defined]
    (block,) = parser.load(path)
    assert character_recall("".join(PAGES[0] + PAGES[1][:1]), block.page_content) >= 0.95, block.page_content


def test_a_pdf_mixing_text_and_scanned_pages_keeps_page_order(
    tmp_path: Path, parser: ContainedParser
) -> None:
    scan = tmp_path / "scan.pdf"
    write_scanned_pdf(scan, [PAGES[1]])
    text = tmp_path / "text.pdf"
    pdf = canvas.Canvas(str(text))
    pdf.drawString(72, 720, "A page with a real text layer.")
    pdf.save()
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    merged.import_pages(pdfium.PdfDocument(text))
    merged.import_pages(pdfium.PdfDocument(scan))
    both = tmp_path / "both.pdf"
    merged.save(both)
    blocks = parser.load(both)
    assert [block.metadata["page"] for block in blocks] == [1, 2]
    assert blocks[0].page_content == "A page with a real text layer."
    assert "Okafor" in blocks[1].page_content


def test_a_picture_without_text_is_refused_with_a_reason(tmp_path: Path, parser: ContainedParser) -> None:
    from PIL import Image

    path = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(path)
    with pytest.raises(Exception, match="no text"):
        parser.load(path)


def test_a_broken_image_is_refused(tmp_path: Path, parser: ContainedParser) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(Exception, match="not a readable image"):
        parser.load(path)
