"""Tables as text: one line per row, cells joined by `` | ``.

A flattened table ("INT4 6 GB 7 GB FP16 13 GB …") loses which value belongs to which row and column; keeping
rows on their own lines lets the splitter cut between rows and lets the model read "INT4 | 6 GB | 7 GB" as a
row under its header.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["html_table_text", "table_text"]

CELL_SEPARATOR = " | "


def table_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows of cell texts as lines; whitespace inside a cell is collapsed, trailing empty cells and empty rows go."""
    lines = []
    for row in rows:
        cells = [" ".join(cell.split()) for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            lines.append(CELL_SEPARATOR.join(cells))
    return "\n".join(lines)


def html_table_text(html: str) -> str:
    """The rows of the HTML ``<table>`` markup in ``html`` (as unstructured gives in ``text_as_html``).

    Returns an empty string when the markup holds no rows, so callers can fall back to the flat text.
    """
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    return table_text([cell.text_content() for cell in row.iter("td", "th")] for row in root.iter("tr"))
