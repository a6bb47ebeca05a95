"""Read the text layer of a PDF, one block per page: pdfium first (C, fast), pypdf when pdfium cannot.

pdfium (through pypdfium2) reads the 619-page PDF in ``bulk/`` in a few seconds where pypdf's pure-Python
parser spends about a minute; pypdf stays as the second reader because its repair path opens some damaged
files pdfium refuses. ``tests/unit/ingest/test_pdf_readers.py`` keeps the two in agreement on ``formats/``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from ingest.ocr import PageReader, render_pdf_pages
from ingest.reasons import one_line_reason
from kbtypes.errors import IngestError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_pdf", "read_pdf_with_pdfium", "read_pdf_with_pypdf"]

logger = logging.getLogger(__name__)

_PASSWORD = "PDF is password-protected: it cannot be opened without its password"
_NO_TEXT = "PDF has no text: no text layer, and OCR found none on its pages"


def read_pdf(path: Path, *, ocr: PageReader | None = None) -> list[Document]:
    """Return one block per PDF page that has text, with a 1-based ``page``.

    Copy-protected PDFs (an owner password but no user password) are read; pages with no text
    layer (scans) are read by ``ocr`` when given, skipped otherwise.

    Raises:
        IngestError: The PDF is broken, needs a password to open, or has no text layer at all.
    """
    try:
        pages = read_pdf_with_pdfium(path, ocr=ocr)
    except _PdfiumRefused as refused:
        logger.debug("pdfium refused path=%s reason=%s; trying pypdf", path, refused)
        pages = read_pdf_with_pypdf(path)
    blocks = [Document(page_content=text, metadata={"page": number}) for number, text in pages]
    if not blocks:
        raise IngestError(_NO_TEXT)
    return blocks


class _PdfiumRefused(Exception):
    """pdfium could not open the file for a reason pypdf may get past (damage, not a password)."""


def read_pdf_with_pdfium(path: Path, *, ocr: PageReader | None = None) -> list[tuple[int, str]]:
    """(page number, text) for every page with text, through pdfium; pages without a text layer go to ``ocr``.

    Raises:
        IngestError: the PDF needs a password.
        _PdfiumRefused: pdfium cannot parse the file.
    """
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise IngestError(_PASSWORD) from e
        raise _PdfiumRefused(one_line_reason(e)) from e
    pages: list[tuple[int, str]] = []
    try:
        for number in range(1, len(document) + 1):
            page = document[number - 1]
            text_page = page.get_textpage()
            try:
                text = _clean(text_page.get_text_range())
            finally:
                text_page.close()
                page.close()
            if text:
                pages.append((number, text))
        blank = sorted(set(range(1, len(document) + 1)) - {number for number, _ in pages})
        if ocr is not None and blank:
            pages = sorted(pages + ocr.pages(render_pdf_pages(document, blank)))
            logger.debug("ocr path=%s pages=%d", path, len(blank))
    except pdfium.PdfiumError as e:
        raise _PdfiumRefused(one_line_reason(e)) from e
    finally:
        document.close()
    logger.debug("read pdf path=%s reader=pdfium text_pages=%d", path, len(pages))
    return pages


def _clean(text: str) -> str:
    """Text as kb stores it: pdfium ends lines with CRLF and marks soft hyphens with control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "").replace("\ufffe", "")
    return text.replace("\x00", "").strip()


def read_pdf_with_pypdf(path: Path) -> list[tuple[int, str]]:
    """(page number, text) for every page with text, through pypdf's pure-Python parser.

    Raises:
        IngestError: the PDF is broken or needs a password.
    """
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(_PASSWORD)
        pages: list[tuple[int, str]] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text()
            if text and text.strip():
                pages.append((number, text.strip()))
    except IngestError:
        raise
    except FileNotDecryptedError as e:
        raise IngestError(_PASSWORD) from e
    except Exception as e:
        # pypdf raises PdfReadError for the damage it recognises, but plain ValueError,
        # KeyError, TypeError or AttributeError from deep inside its parser for the rest.
        raise IngestError(f"could not read PDF: {one_line_reason(e)}") from e
    logger.debug("read pdf path=%s reader=pypdf text_pages=%d", path, len(pages))
    return pages
