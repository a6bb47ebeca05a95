"""Turn one file into its text blocks in reading order, whatever its format.

Plain-text formats (txt, json, yaml, csv, ...) are decoded directly, PDFs are read with pdfium (scanned
pages and image files through OCR, :mod:`ingest.ocr`),
.docx/.doc with :mod:`ingest.docx_reader` and everything else with ``unstructured``
partitioners (:mod:`ingest.unstructured_reader`).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from ingest.docx_reader import read_docx
from ingest.encoding import decode_text
from ingest.legacy_office import read_doc
from ingest.ocr import IMAGE_SUFFIXES, PageReader
from ingest.pdf_reader import read_pdf
from ingest.tables import table_text
from ingest.unstructured_reader import UNSTRUCTURED_SUFFIXES, read_with_unstructured
from kbtypes.errors import IngestError, UnsupportedFileType

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SUPPORTED_SUFFIXES", "load_file"]

logger = logging.getLogger(__name__)

# Read as they are: the raw text is what a reader would search for.
_PLAIN_TEXT_SUFFIXES = frozenset({".txt", ".text", ".log", ".json", ".jsonl", ".ndjson", ".yaml", ".yml"})
_DELIMITED_SUFFIXES = frozenset({".csv", ".tsv"})
_CSV_DELIMITERS = ",;\t|"

SUPPORTED_SUFFIXES: frozenset[str] = (
    _PLAIN_TEXT_SUFFIXES
    | _DELIMITED_SUFFIXES
    | UNSTRUCTURED_SUFFIXES
    | IMAGE_SUFFIXES
    | frozenset({".pdf", ".docx", ".doc"})
)


def load_file(
    path: Path, *, max_chars: int | None = None, on_page: Callable[[], None] | None = None
) -> list[Document]:
    """Return the text blocks of one file in reading order.

    Each block is a ``Document`` whose metadata has ``"page"`` (1-based) for paged formats
    (pdf, pptx) and ``"headings"`` (the heading path, e.g. ``"安装 > 环境配置"``) where the
    format marks headings (markdown, html, docx, rst, org, ...); absent otherwise.

    Args:
        path: The file to read.
        max_chars: refuse a file with more text than this; a plain-text file is refused before it is
            read when its size alone says so (a 2 GB sparse file is never read).
        on_page: called after each page read by OCR (scans and images), so a caller can tell slow from stuck.

    Returns:
        The non-empty blocks of the file; never an empty list.

    Raises:
        UnsupportedFileType: kb has no loader for the file's suffix (archives, source code,
            files without an extension).
        IngestError: The file is broken, encrypted, empty or undecodable; the message is a
            one-line reason.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        if not suffix:
            raise UnsupportedFileType("unsupported file: it has no extension, so kb cannot tell its format")
        raise UnsupportedFileType(f"unsupported file type '{suffix}': not a document format kb reads")
    if not path.is_file():
        raise IngestError(f"not a readable file: {path}")
    plain = suffix in _PLAIN_TEXT_SUFFIXES or suffix in _DELIMITED_SUFFIXES
    if max_chars is not None and plain and path.stat().st_size > 4 * max_chars:
        raise IngestError(_too_long(path.stat().st_size, "bytes", max_chars))
    started = time.perf_counter()
    try:
        blocks = _read(path, suffix, PageReader(on_page=on_page))
    except OSError as e:
        raise IngestError(f"could not read file: {e.strerror or e}") from e
    blocks = [
        Document(page_content=block.page_content.strip(), metadata=block.metadata)
        for block in blocks
        if block.page_content.strip()
    ]
    if not blocks:
        raise IngestError("file contains no text")
    chars = sum(len(block.page_content) for block in blocks)
    if max_chars is not None and chars > max_chars:
        raise IngestError(_too_long(chars, "characters of text", max_chars))
    logger.debug(
        "loaded path=%s blocks=%d chars=%d seconds=%.3f",
        path,
        len(blocks),
        sum(len(block.page_content) for block in blocks),
        time.perf_counter() - started,
    )
    return blocks


def _too_long(size: int, unit: str, max_chars: int) -> str:
    return (
        f"file holds {size:,} {unit}, over the limit of {max_chars:,} characters per file "
        "(KB_INGEST__MAX_CHARS_PER_FILE)"
    )


def _read(path: Path, suffix: str, ocr: PageReader) -> list[Document]:
    if suffix in _PLAIN_TEXT_SUFFIXES:
        return [Document(page_content=decode_text(path.read_bytes()))]
    if suffix in _DELIMITED_SUFFIXES:
        return [Document(page_content=_delimited_text(decode_text(path.read_bytes()), suffix=suffix))]
    if suffix == ".pdf":
        return read_pdf(path, ocr=ocr)
    if suffix in IMAGE_SUFFIXES:
        return [Document(page_content=text, metadata={"page": n}) for n, text in ocr.image_file(path)]
    if suffix == ".docx":
        return read_docx(path)
    if suffix == ".doc":
        return read_doc(path)
    return read_with_unstructured(path, suffix)


def _delimited_text(text: str, *, suffix: str) -> str:
    """Render a CSV/TSV table as one line per row with cells separated by `` | ``."""
    if suffix == ".tsv":
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=_CSV_DELIMITERS).delimiter
        except csv.Error:
            delimiter = ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as e:
        raise IngestError(f"malformed {suffix} file: {e}") from e
    return table_text(rows)
