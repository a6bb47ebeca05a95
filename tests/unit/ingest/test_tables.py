"""Tables as one line per row."""

from __future__ import annotations

from ingest.tables import html_table_text, table_text


def test_rows_are_lines_and_cells_are_joined() -> None:
    rows = [["  Team ", "Cups"], ["Maple\n Leafs", "13", "", ""], ["", ""], ["Blues", ""]]
    assert table_text(rows) == "Team | Cups\nMaple Leafs | 13\nBlues"


def test_html_header_and_body_rows() -> None:
    html = (
        "<table><thead><tr><th>量化等级</th><th>显存</th></tr></thead>"
        "<tbody><tr><td>INT4</td><td>6 <b>GB</b></td></tr></tbody></table>"
    )
    assert html_table_text(html) == "量化等级 | 显存\nINT4 | 6 GB"


def test_markup_without_rows_gives_nothing() -> None:
    assert html_table_text("") == ""
    assert html_table_text("<p>not a table</p>") == ""
