"""Tables as text: rows that name their columns, so no chunk holds a row without its header."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import load_file
from ingest.splitting import split_blocks
from ingest.tables import html_table_text, table_text

ZH_CHATGLM = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "zh-chatglm"


def test_rows_under_a_guessed_header_name_their_columns() -> None:
    rows = [["  Team ", "Cups"], ["Maple\n Leafs", "13", "", ""], ["", ""], ["Blues", ""]]
    assert table_text(rows) == "Team: Maple Leafs · Cups: 13\nTeam: Blues"


def test_a_caption_row_above_the_header_stays_a_line() -> None:
    rows = [["Stanley Cups", "", ""], ["Team", "Location", "Stanley Cups"], ["Blues", "STL", "1"]]
    assert table_text(rows) == "Stanley Cups\nTeam: Blues · Location: STL · Stanley Cups: 1"


@pytest.mark.parametrize(
    "rows",
    [
        [["1", "2"], ["3", "4"]],  # figures are values, not names
        [["Grade :", "SNB22-3"], ["Classification:", "steel"]],  # a form of labels
        [["-", "SNB22-3"], ["-", "x"]],  # punctuation names nothing
        [["only"], ["one"], ["column"]],
        [["Header", "alone"]],
    ],
)
def test_tables_without_a_header_keep_plain_rows(rows: list[list[str]]) -> None:
    assert table_text(rows) == "\n".join(" | ".join(row) for row in rows)


def test_a_year_can_name_a_column() -> None:
    assert table_text([["", "2022", "2023"], ["Sales", "10", "12"]]) == "Sales · 2022: 10 · 2023: 12"


def test_a_repeated_header_row_is_dropped() -> None:
    rows = [["name", "size"], ["a", "1 GB"], ["name", "size"], ["b", "2 GB"]]
    assert table_text(rows) == "name: a · size: 1 GB\nname: b · size: 2 GB"


def test_html_two_header_rows_with_merged_cells() -> None:
    html = (
        "<table><thead><tr><th rowspan='2'>量化等级</th><th colspan='2'>最低 GPU 显存</th></tr>"
        "<tr><th>推理</th><th>微调</th></tr></thead>"
        "<tbody><tr><td>INT4</td><td>6 <b>GB</b></td><td>7 GB</td></tr></tbody></table>"
    )
    assert html_table_text(html) == "量化等级: INT4 · 最低 GPU 显存 推理: 6 GB · 最低 GPU 显存 微调: 7 GB"


def test_html_th_rows_are_the_header_even_when_they_hold_figures() -> None:
    html = "<table><tr><th>1</th><th>2</th></tr><tr><td>a</td><td>b</td></tr></table>"
    assert html_table_text(html) == "1: a · 2: b"


def test_html_rowspan_fills_the_rows_below() -> None:
    html = (
        "<table><tr><th>zone</th><th>year</th><th>sales</th></tr>"
        "<tr><td rowspan='2'>EUR</td><td>2022</td><td>9</td></tr><tr><td>2023</td><td>10</td></tr></table>"
    )
    assert html_table_text(html) == "zone: EUR · year: 2022 · sales: 9\nzone: EUR · year: 2023 · sales: 10"


def test_a_hostile_span_is_capped() -> None:
    html = "<table><tr><th colspan='100000000'>x</th></tr><tr><td rowspan='99999999'>y</td></tr></table>"
    assert len(html_table_text(html)) < 1000


def test_markup_without_rows_gives_nothing() -> None:
    assert html_table_text("") == ""
    assert html_table_text("<p>not a table</p>") == ""


def test_docx_header_rows_and_merged_cells(tmp_path: Path) -> None:
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    table = document.add_table(rows=4, cols=3)
    table.cell(0, 0).merge(table.cell(1, 0)).text = "量化等级"
    table.cell(0, 1).merge(table.cell(0, 2)).text = "最低 GPU 显存"
    for column, text in ((1, "推理"), (2, "微调")):
        table.cell(1, column).text = text
    for row, values in ((2, ("INT8", "8 GB", "9 GB")), (3, ("INT4", "6 GB", "7 GB"))):
        for column, text in enumerate(values):
            table.cell(row, column).text = text
    for row in table.rows[:2]:  # "repeat as header row at the top of each page"
        row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    assert table.rows[0]._tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    path = tmp_path / "memory.docx"
    document.save(str(path))

    text = "\n".join(block.page_content for block in load_file(path))

    assert text.splitlines() == [
        "量化等级: INT8 · 最低 GPU 显存 推理: 8 GB · 最低 GPU 显存 微调: 9 GB",
        "量化等级: INT4 · 最低 GPU 显存 推理: 6 GB · 最低 GPU 显存 微调: 7 GB",
    ]


def test_a_long_table_split_into_chunks_keeps_its_header_in_every_chunk(tmp_path: Path) -> None:
    path = tmp_path / "parts.md"
    rows = "\n".join(f"| part-{n} | {n * 3} kg | shelf {n % 7} |" for n in range(120))
    path.write_text(
        f"# Parts\n\n| Part number | Weight | Location |\n|---|---|---|\n{rows}\n", encoding="utf-8"
    )

    chunks = split_blocks(load_file(path), chunk_size=400, chunk_overlap=0)

    table_chunks = [chunk.page_content for chunk in chunks if "part-" in chunk.page_content]
    assert len(table_chunks) > 5
    for chunk in table_chunks:
        for line in chunk.splitlines():
            if "part-" in line:
                assert line.startswith("Part number: part-")
                assert "· Weight: " in line
                assert "· Location: shelf" in line


def test_the_chatglm_memory_table_row_names_its_columns() -> None:
    readme = ZH_CHATGLM / "README.md"
    if not readme.is_file():
        pytest.skip("shared corpora not available")

    text = "\n".join(block.page_content for block in load_file(readme))

    row = next(line for line in text.splitlines() if "INT4" in line and "6 GB" in line)
    assert row.startswith("量化等级: INT4 · ")
    assert "（推理）: 6 GB" in row
    assert "（高效参数微调）: 7 GB" in row
