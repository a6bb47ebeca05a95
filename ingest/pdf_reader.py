"""Read the text layer of a PDF with pypdf, one block per page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from ingest.reasons import one_line_reason
from kbtypes.errors import IngestError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["read_pdf"]

logger = logging.getLogger(__name__)


def read_pdf(path: Path) -> list[Document]:
    """Return one block per PDF page that has text, with a 1-based ``page``.

    Copy-protected PDFs (an owner password but no user password) are read; pages with no text
    layer (scans) are skipped.

    Raises:
        IngestError: The PDF is broken, needs a password to open, or has no text layer at all.
    """
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError("PDF is password-protected: it cannot be opened without its password")
        blocks: list[Document] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text()
            if text and text.strip():
                blocks.append(Document(page_content=text.strip(), metadata={"page": number}))
    except IngestError:
        raise
    except FileNotDecryptedError as e:
        raise IngestError("PDF is password-protected: it cannot be opened without its password") from e
    except Exception as e:
        # pypdf raises PdfReadError for the damage it recognises, but plain ValueError,
        # KeyError, TypeError or AttributeError from deep inside its parser for the rest.
        raise IngestError(f"could not read PDF: {one_line_reason(e)}") from e
    if not blocks:
        raise IngestError("PDF has no text layer (scanned images?); OCR is not supported")
    logger.debug("read pdf path=%s pages=%d text_pages=%d", path, len(reader.pages), len(blocks))
    return blocks
