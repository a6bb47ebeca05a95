"""Read the formats ``unstructured`` partitions well and turn its elements into blocks."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from ingest.blocks import BlockBuilder
from ingest.encoding import declared_html_charset, decode_text
from ingest.offline_nlp import ensure_offline_nlp
from ingest.reasons import one_line_reason
from ingest.tables import html_table_text
from kbtypes.errors import IngestError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from langchain_core.documents import Document
    from unstructured.documents.elements import Element

__all__ = ["PAGED_SUFFIXES", "UNSTRUCTURED_SUFFIXES", "read_with_unstructured"]

logger = logging.getLogger(__name__)

UNSTRUCTURED_SUFFIXES = frozenset(
    {
        ".md",
        ".markdown",
        ".html",
        ".htm",
        ".xhtml",
        ".xml",
        ".rst",
        ".org",
        ".rtf",
        ".epub",
        ".odt",
        ".pptx",
        ".xlsx",
        ".eml",
        ".msg",
    }
)

#: Formats whose element page numbers are real pages (slides); others get no "page".
PAGED_SUFFIXES = frozenset({".pptx"})

# Repeated page furniture and content-free markers; their text would only add noise.
_SKIPPED_CATEGORIES = frozenset({"Header", "Footer", "PageBreak", "PageNumber", "Image"})

# Language detection per element costs more than the partitioning itself and kb does not use it.
_NO_LANGUAGE_DETECTION: dict[str, Any] = {"languages": [""]}


def read_with_unstructured(path: Path, suffix: str) -> list[Document]:
    """Partition ``path`` with the ``unstructured`` partitioner for ``suffix`` into blocks.

    Raises:
        IngestError: The partitioner failed on the file (broken, encrypted, ...).
    """
    ensure_offline_nlp()
    partition = _partitioner(suffix)
    try:
        elements = partition(path)
    except IngestError:
        raise
    except Exception as e:
        # Partitioners surface malformed input as whatever their parser raises (zipfile,
        # lxml, olefile, KeyError, ValueError, ...): there is no common base class to catch.
        raise IngestError(f"could not parse {suffix} file: {one_line_reason(e)}") from e
    return _elements_to_blocks(elements, paged=suffix in PAGED_SUFFIXES)


_TABLE_ROW_THEN_HEADING = re.compile(r"(?m)^(\|.*\|[ \t]*)\n(#{1,6}[ \t])")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[*+-]|\d{1,9}[.)])[ \t]+\S")
_FENCE = re.compile(r"^\s{0,3}(?:```|~~~)")


def _partitioner(suffix: str) -> Callable[[Path], Sequence[Element]]:
    if suffix in (".md", ".markdown"):
        from unstructured.partition.md import partition_md

        return lambda path: partition_md(
            text=_start_lists_after_paragraphs(_end_tables_before_headings(decode_text(path.read_bytes()))),
            **_NO_LANGUAGE_DETECTION,
        )
    if suffix in (".html", ".htm", ".xhtml"):
        from unstructured.partition.html import partition_html

        def read_html(path: Path) -> Sequence[Element]:
            data = path.read_bytes()
            text = decode_text(data, declared=declared_html_charset(data))
            return partition_html(text=text, **_NO_LANGUAGE_DETECTION)

        return read_html
    if suffix == ".xml":
        from unstructured.partition.xml import partition_xml

        return lambda path: partition_xml(text=decode_text(path.read_bytes()), **_NO_LANGUAGE_DETECTION)
    return _file_partitioner(suffix)


def _end_tables_before_headings(markdown: str) -> str:
    """Put a blank line between a table's last row and a heading right under it.

    GitHub ends a table at a heading line; the parser unstructured uses reads the heading as one more row.
    """
    return _TABLE_ROW_THEN_HEADING.sub(r"\1\n\n\2", markdown)


def _start_lists_after_paragraphs(markdown: str) -> str:
    """Put a blank line between a paragraph line and a list that starts right under it.

    GitHub lets a list interrupt a paragraph; the parser unstructured uses folds such a list into the
    paragraph, so every item of a list under "项目：" became one line, and a quote of one item quoted all.
    Code fences are left as they are.
    """
    lines = markdown.split("\n")
    out: list[str] = []
    fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and _LIST_ITEM.match(line) and out and out[-1].strip():
            previous = out[-1]
            if not _LIST_ITEM.match(previous) and not previous.startswith((" ", "\t", "|", "#", ">")):
                out.append("")
        out.append(line)
    return "\n".join(out)


def _file_partitioner(suffix: str) -> Callable[[Path], Sequence[Element]]:
    """Partitioners that read the file themselves (zip packages, pandoc conversions, mail)."""
    if suffix == ".rst":
        from unstructured.partition.rst import partition_rst as partition
    elif suffix == ".org":
        from unstructured.partition.org import partition_org as partition
    elif suffix == ".rtf":
        from unstructured.partition.rtf import partition_rtf as partition
    elif suffix == ".epub":
        from unstructured.partition.epub import partition_epub as partition
    elif suffix == ".odt":
        from unstructured.partition.odt import partition_odt as partition
    elif suffix == ".pptx":
        from unstructured.partition.pptx import partition_pptx as partition
    elif suffix == ".xlsx":
        from unstructured.partition.xlsx import partition_xlsx as partition
    elif suffix == ".eml":
        from unstructured.partition.email import partition_email

        return lambda path: partition_email(
            filename=str(path), process_attachments=True, **_NO_LANGUAGE_DETECTION
        )
    elif suffix == ".msg":
        from unstructured.partition.msg import partition_msg

        return lambda path: partition_msg(
            filename=str(path), process_attachments=True, **_NO_LANGUAGE_DETECTION
        )
    else:
        raise ValueError(f"no unstructured partitioner for suffix={suffix}")
    return lambda path: partition(filename=str(path), **_NO_LANGUAGE_DETECTION)


def _elements_to_blocks(elements: Sequence[Element], *, paged: bool) -> list[Document]:
    builder = BlockBuilder()
    sheet: str | None = None
    subject: str | None = None
    for element in elements:
        if element.category in _SKIPPED_CATEGORIES:
            continue
        metadata = element.metadata
        page = metadata.page_number if paged else None
        # Spreadsheets: the sheet name heads everything on that sheet.
        if metadata.page_name and metadata.page_name != sheet:
            sheet = metadata.page_name
            builder.heading(sheet, level=-1, page=page, keep_text=False)
        # Mail: the subject heads the message body and its attachments, and is searchable text.
        email_subject = getattr(metadata, "subject", None)
        if isinstance(email_subject, str) and email_subject.strip() and email_subject != subject:
            subject = email_subject
            builder.heading(subject, level=-1, page=page)
        depth = metadata.category_depth
        if element.category == "Title" and depth is not None:
            builder.heading(element.text, level=depth, page=page)
        elif element.category == "Table" and metadata.text_as_html:
            builder.paragraph(html_table_text(metadata.text_as_html) or element.text, page=page)
        else:
            builder.paragraph(element.text, page=page)
    return builder.build()
