"""Tables as text: every row a line that names its columns.

A row read away from its header ("INT4 | 6 GB | 7 GB") does not say which figure is which; a small model
guesses, and a chunk that starts in the middle of a long table has no header at all. So each row under a
header carries the column names: "量化等级: INT4 · 最低 GPU 显存（推理）: 6 GB · 最低 GPU 显存（高效参数微调）: 7 GB".
Whichever chunk a row lands in, it keeps its header, and a row is a line, so the splitter cuts between rows.

A header is the table's marked header rows (``<th>`` rows, a Word header row) or, when none is marked, the
first of its top rows that looks like one. A table with no such row (a form of "label: value" pairs, a grid of
figures) keeps plain rows, cells joined by `` | ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "CELL_SEPARATOR",
    "NAME_SEPARATOR",
    "PAIR_SEPARATOR",
    "html_table_text",
    "span_count",
    "table_text",
]

#: Joins the cells of a row that has no header.
CELL_SEPARATOR = " | "
#: Joins the "name: value" pairs of a row under a header.
PAIR_SEPARATOR = " · "
#: Joins a column name and its value.
NAME_SEPARATOR = ": "

#: How many top rows may be titles above the header ("In millions of CHF", a sheet's caption).
_HEADER_SEARCH_ROWS = 3
_LONGEST_COLUMN_NAME = 80
#: A value, not a name: a figure with an optional short unit ("13", "6 GB", "-0.5%", "1,234.5").
_VALUE = re.compile(r"^[-+−–]?[\d.,]*\d[\d.,]*\s*(?:[A-Za-z%‰]{1,3})?$")
_WORD = re.compile(r"\w")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
#: Merged cells are expanded up to this; a hostile ``colspan=1000000`` must not build a huge row.
_MAX_SPAN = 64


def table_text(rows: Iterable[Sequence[str]], *, header_rows: int | None = None) -> str:
    """Render a table as lines: title rows as they are, then one self-describing line per data row.

    Args:
        rows: Cell texts, row by row (merged cells already repeated into every column they cover).
        header_rows: How many leading rows the document marks as the header; None to look for one among
            the top rows; 0 when the table has none.

    Returns:
        The table's text; empty when no row has any text.
    """
    grid = [cells for cells in (_clean(row) for row in rows) if any(cells)]
    if not grid:
        return ""
    if header_rows is None:
        start = _guessed_header(grid)
        titles, header, body = (
            (grid, [], []) if start is None else (grid[:start], [grid[start]], grid[start + 1 :])
        )
    else:
        titles, header, body = [], grid[:header_rows], grid[header_rows:]
    if not body:  # a header with nothing under it is just a row
        titles, header = titles + header, []
    lines = [CELL_SEPARATOR.join(cell for cell in row if cell) for row in titles]
    names = _column_names(header)
    for row in body:
        if header and row == header[0]:
            continue  # the header repeated on a later page of the table
        lines.append(_named_row(row, names) if names else CELL_SEPARATOR.join(row))
    return "\n".join(line for line in lines if line)


def html_table_text(html: str) -> str:
    """The table in ``html`` (a ``<table>`` as unstructured gives in ``text_as_html``) as :func:`table_text`.

    ``<th>``-only rows at the top (or the rows of ``<thead>``) are the header; merged cells are repeated into
    every column they span. Returns an empty string when the markup holds no rows, so callers can fall back
    to the flat text.
    """
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    rows: list[list[str]] = []
    marked: list[bool] = []
    carried: dict[int, tuple[str, int]] = {}  # column -> (text, rows it still covers), from rowspan
    for tr in root.iter("tr"):
        cells = [cell for cell in tr if isinstance(cell.tag, str) and cell.tag in ("td", "th")]
        row: list[str] = []
        for cell in cells:
            _fill_carried(row, carried)
            text = cell.text_content()
            down = span_count(cell.get("rowspan"))
            for _ in range(span_count(cell.get("colspan"))):
                if down > 1:
                    carried[len(row)] = (text, down - 1)
                row.append(text)
        _fill_carried(row, carried)
        rows.append(row)
        in_head = any(ancestor.tag == "thead" for ancestor in tr.iterancestors())
        marked.append(bool(cells) and (in_head or all(cell.tag == "th" for cell in cells)))
    header_rows = next((i for i, is_header in enumerate(marked) if not is_header), len(marked))
    return table_text(rows, header_rows=header_rows or None)


def _fill_carried(row: list[str], carried: dict[int, tuple[str, int]]) -> None:
    """Append the texts that rowspans from rows above put at the row's next columns."""
    while len(row) in carried:
        text, left = carried.pop(len(row))
        if left > 1:
            carried[len(row)] = (text, left - 1)
        row.append(text)


def span_count(value: str | None) -> int:
    """How many rows or columns a merged cell covers (HTML ``colspan``/``rowspan``, Word ``gridSpan``), capped."""
    try:
        return min(max(int(value or 1), 1), _MAX_SPAN)
    except ValueError:
        return 1


def _clean(row: Sequence[str]) -> list[str]:
    """Whitespace inside a cell collapsed, trailing empty cells dropped."""
    cells = [" ".join(cell.split()) for cell in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _guessed_header(grid: Sequence[Sequence[str]]) -> int | None:
    """Index of the first top row that names columns (with rows under it), or None."""
    width = max(len(row) for row in grid)
    for index, row in enumerate(grid[: min(_HEADER_SEARCH_ROWS, len(grid) - 1)]):
        if _names_columns(row, width):
            return index
    return None


def _names_columns(row: Sequence[str], width: int) -> bool:
    """Whether ``row`` reads as column names: most columns named, none a figure, a label or a sentence."""
    names = [cell for cell in row if cell]
    return (
        width >= 2
        and len(names) >= 2
        and 2 * len(names) >= width
        and not any(_VALUE.match(name) and not _YEAR.match(name) for name in names)
        and all(_WORD.search(name) for name in names)
        and not any(name.endswith((":", "：")) or len(name) > _LONGEST_COLUMN_NAME for name in names)
    )


def _column_names(header: Sequence[Sequence[str]]) -> list[str]:
    """One name per column; stacked header rows join their distinct texts ("最低 GPU 显存 推理")."""
    width = max((len(row) for row in header), default=0)
    names = []
    for column in range(width):
        parts: list[str] = []
        for row in header:
            text = row[column] if column < len(row) else ""
            if text and text not in parts:
                parts.append(text)
        names.append(" ".join(parts))
    return names


def _named_row(row: Sequence[str], names: Sequence[str]) -> str:
    pairs = []
    for column, value in enumerate(row):
        if not value:
            continue
        name = names[column] if column < len(names) else ""
        pairs.append(f"{name}{NAME_SEPARATOR}{value}" if name and name != value else value)
    return PAIR_SEPARATOR.join(pairs)
