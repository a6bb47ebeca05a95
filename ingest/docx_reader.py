"""Read the text of a .docx file straight from its XML, keeping the heading structure.

``unstructured.partition.docx`` goes through python-docx, whose per-paragraph style lookups and
element classification take about a minute on an 870-page handbook; walking the XML with lxml
takes about a second and yields the same paragraphs. Headers, footers and footnotes are left out
(they repeat on every page and would crowd the index).
"""

from __future__ import annotations

import logging
import posixpath
import re
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from langchain_core.documents import Document
from lxml import etree

from ingest.blocks import BlockBuilder
from ingest.tables import span_count, table_text
from kbtypes.errors import IngestError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["OLE_MAGIC", "read_docx"]

logger = logging.getLogger(__name__)

#: First bytes of an OLE2 compound file: legacy .doc/.xls, or an encrypted Office Open XML file.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_OFFICE_DOCUMENT_REL = re.compile(r"/officeDocument$")
_HEADING_NAME = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_MAX_STYLE_DEPTH = 10
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


@dataclass(frozen=True)
class _Style:
    name: str
    outline_level: int | None
    based_on: str | None


def read_docx(path: Path) -> list[Document]:
    """Return one block per heading section of a .docx file, in reading order.

    Raises:
        IngestError: The file is encrypted, not a zip package, or its XML is broken.
    """
    try:
        with zipfile.ZipFile(path) as package:
            document_part = _main_part_name(package)
            styles = _read_styles(package)
            body = etree.fromstring(package.read(document_part), _PARSER).find(f"{_W}body")
    except zipfile.BadZipFile as e:
        with path.open("rb") as f:
            if f.read(len(OLE_MAGIC)) == OLE_MAGIC:
                raise IngestError("file is password-protected or in the legacy binary Word format") from e
        raise IngestError(f"not a valid .docx package: {e}") from e
    except KeyError as e:
        raise IngestError(f"not a valid .docx package: missing part {e}") from e
    except etree.XMLSyntaxError as e:
        raise IngestError(f"broken XML inside .docx: {e}") from e
    if body is None:
        raise IngestError("not a valid .docx package: document has no body")

    # Word stores text boxes twice (a modern mc:Choice and a legacy mc:Fallback copy).
    for fallback in list(body.iter(_MC_FALLBACK)):
        parent = fallback.getparent()
        if parent is not None:
            parent.remove(fallback)

    builder = BlockBuilder()
    for element in _iter_blocks(body):
        if element.tag == f"{_W}tbl":
            builder.paragraph(_table_text(element))
            continue
        text = _paragraph_text(element)
        level = _heading_level(element, styles)
        if level is None:
            builder.paragraph(text)
        else:
            builder.heading(text, level=level)
    return builder.build()


def _main_part_name(package: zipfile.ZipFile) -> str:
    try:
        rels = etree.fromstring(package.read("_rels/.rels"), _PARSER)
    except KeyError:
        return "word/document.xml"
    for rel in rels:
        if _OFFICE_DOCUMENT_REL.search(rel.get("Type", "")):
            return posixpath.normpath(str(rel.get("Target", "word/document.xml")).lstrip("/"))
    return "word/document.xml"


def _read_styles(package: zipfile.ZipFile) -> dict[str, _Style]:
    try:
        root = etree.fromstring(package.read("word/styles.xml"), _PARSER)
    except KeyError:
        return {}
    styles: dict[str, _Style] = {}
    for style in root.iter(f"{_W}style"):
        style_id = style.get(f"{_W}styleId")
        if style_id is None:
            continue
        name = style.find(f"{_W}name")
        based_on = style.find(f"{_W}basedOn")
        styles[style_id] = _Style(
            name=name.get(f"{_W}val", "") if name is not None else "",
            outline_level=_outline_level(style.find(f"{_W}pPr")),
            based_on=based_on.get(f"{_W}val") if based_on is not None else None,
        )
    return styles


def _outline_level(properties: etree._Element | None) -> int | None:
    if properties is None:
        return None
    element = properties.find(f"{_W}outlineLvl")
    if element is None:
        return None
    try:
        level = int(element.get(f"{_W}val", ""))
    except ValueError:
        return None
    # Level 9 means "body text".
    return level if 0 <= level <= 8 else None


def _heading_level(paragraph: etree._Element, styles: dict[str, _Style]) -> int | None:
    """Level of a heading paragraph (Title 0, Heading 1 is 1, ...), or None for body text."""
    properties = paragraph.find(f"{_W}pPr")
    direct = _outline_level(properties)
    if direct is not None:
        return direct + 1
    style_ref = properties.find(f"{_W}pStyle") if properties is not None else None
    style_id = style_ref.get(f"{_W}val") if style_ref is not None else None
    for _ in range(_MAX_STYLE_DEPTH):
        style = styles.get(style_id or "")
        if style is None:
            return None
        match = _HEADING_NAME.match(style.name)
        if match:
            return int(match.group(1))
        if style.name.lower() == "title":
            return 0
        if style.outline_level is not None:
            return style.outline_level + 1
        style_id = style.based_on
    return None


def _iter_blocks(container: etree._Element) -> Iterator[etree._Element]:
    """Paragraphs and tables in reading order, looking inside content controls."""
    for child in container:
        if child.tag in (f"{_W}p", f"{_W}tbl"):
            yield child
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _iter_blocks(content)
        elif child.tag == f"{_W}customXml":
            yield from _iter_blocks(child)


_TEXT_TAGS = (f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}noBreakHyphen")


def _paragraph_text(paragraph: etree._Element) -> str:
    parts: list[str] = []
    for node in paragraph.iter(*_TEXT_TAGS):
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag == f"{_W}noBreakHyphen":
            parts.append("-")
        else:
            parts.append("\n")
    return "".join(parts)


def _table_text(table: etree._Element) -> str:
    """The table as :func:`ingest.tables.table_text`, merged cells filling every column they cover.

    The rows Word repeats on each page (``w:tblHeader``) are the header.
    """
    rows: list[list[str]] = []
    header_rows = 0
    for tr in table.iterchildren(f"{_W}tr"):
        above = rows[-1] if rows else []
        row: list[str] = []
        for cell in tr.iterchildren(f"{_W}tc"):
            properties = cell.find(f"{_W}tcPr")
            span = properties.find(f"{_W}gridSpan") if properties is not None else None
            merge = properties.find(f"{_W}vMerge") if properties is not None else None
            columns = span_count(span.get(f"{_W}val") if span is not None else None)
            if merge is not None and merge.get(f"{_W}val") != "restart":
                # A continued vertical merge: the text sits in the cell above.
                row.extend(above[len(row) + i] if len(row) + i < len(above) else "" for i in range(columns))
            else:
                text = " ".join(_paragraph_text(p) for p in cell.iter(f"{_W}p"))
                row.extend([text] * columns)
        rows.append(row)
        repeated = tr.find(f"{_W}trPr/{_W}tblHeader")
        if (
            repeated is not None
            and header_rows == len(rows) - 1
            and repeated.get(f"{_W}val") not in ("0", "false")
        ):
            header_rows += 1
    return table_text(rows, header_rows=header_rows or None)
