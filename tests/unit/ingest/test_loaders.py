"""ingest.loaders: every corpus format loads into non-empty blocks with the right metadata."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from langchain_core.documents import Document

from ingest.loaders import SUPPORTED_SUFFIXES, load_file
from kbtypes.errors import IngestError, UnsupportedFileType

CORPORA = Path(__file__).resolve().parents[3].parent / "shared" / "corpora"
FORMATS = CORPORA / "formats"
PAGED = {".pdf", ".pptx"}
# Slow in a plain-Python parser; the inner loop may skip them.
SLOW = {"winter-sports.epub", "2023-half-year-analyses-by-segment.xlsx"}


def _corpus(folder: Path) -> list[object]:
    if not folder.is_dir():
        return []
    return [
        pytest.param(path, id=path.name, marks=[pytest.mark.slow] if path.name in SLOW else [])
        for path in sorted(folder.iterdir())
    ]


# Corpus files are read-only and loading is deterministic: load each once per session.
_load_corpus_file = functools.cache(load_file)


def _text(blocks: list[Document]) -> str:
    return "\n\n".join(block.page_content for block in blocks)


@pytest.mark.parametrize("path", _corpus(FORMATS))
def test_every_format_loads_into_blocks_with_valid_metadata(path: Path) -> None:
    blocks = _load_corpus_file(path)

    assert blocks
    for block in blocks:
        assert block.page_content.strip() == block.page_content
        assert block.page_content
        assert set(block.metadata) <= {"page", "headings"}
        if "headings" in block.metadata:
            assert isinstance(block.metadata["headings"], str)
            assert block.metadata["headings"].strip()
    suffix = path.suffix.lower()
    if suffix in PAGED:
        pages = [block.metadata["page"] for block in blocks]
        assert all(isinstance(page, int) and page >= 1 for page in pages)
        assert pages == sorted(pages)
    else:
        assert all("page" not in block.metadata for block in blocks)


def test_every_corpus_format_is_supported() -> None:
    if not FORMATS.is_dir():
        pytest.skip("shared corpora not available")
    assert {path.suffix.lower() for path in FORMATS.iterdir()} <= SUPPORTED_SUFFIXES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("README.md", "Example Docs > XBRL 10-K"),
        ("README.rst", "Example Docs > XBRL 10-K"),
        ("README.org", "Example Docs > XBRL 10-K"),
        ("fake-html.html", "My First Heading > My Second Heading"),
        ("fake-email.eml", "Test Email"),
    ],
)
def test_heading_paths(name: str, expected: str) -> None:
    if not FORMATS.is_dir():
        pytest.skip("shared corpora not available")

    blocks = _load_corpus_file(FORMATS / name)

    assert expected in [block.metadata.get("headings") for block in blocks]


def test_multi_page_pdf_keeps_page_numbers() -> None:
    if not FORMATS.is_dir():
        pytest.skip("shared corpora not available")

    blocks = _load_corpus_file(FORMATS / "layout-parser-paper-fast.pdf")

    assert [block.metadata["page"] for block in blocks] == [1, 2]
    assert "LayoutParser" in blocks[0].page_content


def test_pptx_slides_are_pages() -> None:
    if not FORMATS.is_dir():
        pytest.skip("shared corpora not available")

    blocks = _load_corpus_file(FORMATS / "sample-presentation.pptx")

    assert {block.metadata["page"] for block in blocks} >= {1, 2, 3}


def test_generated_pdf_gives_one_block_per_page(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "two-pages.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, "First page about apples")
    pdf.showPage()
    pdf.showPage()  # a blank page: no text layer, skipped
    pdf.drawString(72, 720, "Third page about pears")
    pdf.save()

    blocks = load_file(path)

    assert [(block.metadata["page"], block.page_content) for block in blocks] == [
        (1, "First page about apples"),
        (3, "Third page about pears"),
    ]


def test_generated_docx_heading_path_and_table(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("安装", level=1)
    document.add_paragraph("先准备 Python 环境。")
    document.add_heading("环境配置", level=2)
    document.add_paragraph("设置 CUDA 路径。")
    table = document.add_table(rows=2, cols=2)
    for row, cells in enumerate([("名称", "版本"), ("torch", "2.1")]):
        for column, value in enumerate(cells):
            table.cell(row, column).text = value
    document.add_heading("使用", level=1)
    document.add_paragraph("运行 cli_demo.py。")
    path = tmp_path / "guide.docx"
    document.save(str(path))

    blocks = load_file(path)

    assert [(block.metadata.get("headings"), block.page_content) for block in blocks] == [
        ("安装", "安装\n\n先准备 Python 环境。"),
        ("安装 > 环境配置", "环境配置\n\n设置 CUDA 路径。\n\n名称: torch · 版本: 2.1"),
        ("使用", "使用\n\n运行 cli_demo.py。"),
    ]


ZH = "知识库问答系统支持中文文档。它会把文件切成段落，然后建立索引。用户提问时，系统检索相关段落并生成回答。"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-32", "utf-8-sig", "utf-16-le"])
def test_text_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / f"notes-{encoding}.txt"
    path.write_bytes((ZH * 3).encode(encoding))

    blocks = load_file(path)

    assert _text(blocks) == ZH * 3


def test_crlf_line_endings_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "dos.txt"
    path.write_bytes(b"line one\r\nline two\r\n")

    assert _text(load_file(path)) == "line one\nline two"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fake-text-utf-16.txt", "This is a test document to use for unit tests."),
        ("fake-text-utf-32.txt", "This is a test document to use for unit tests."),
        ("fake-html-cp1252.html", "Die schöne Frau hat einen Kaffee mit Kuchen gegessen."),
        ("umlauts-utf8.md", "können"),
        ("fake-email-attachment.eml", "Hey this is a fake attachment!"),
        ("semicolon-delimited.csv", "Lorem, ipsum: consectetur · dolor sit: adipiscing · amet: elit"),
        ("stanley-cups.tsv", "Team: Maple Leafs · Location: TOR · Stanley Cups: 13"),
        # Tables: one line per row that names its columns, in every format that has them.
        ("stanley-cups.xlsx", "Team: Maple Leafs · Location: TOR · Stanley Cups: 13"),
        ("simple-table.md", "Item: Juicy Apples · Price: 1.99 · # In stock: 739"),
        ("fake-power-point-table.pptx", "Column 1: Red · Column 2: Green · Column 3: Blue"),
        ("docx-tables.docx", "Header Col 1: Lorem ipsum · Header Col 2: A link example"),
        ("simple.doc", "This is my first thought."),
        ("fake.odt", "Lorem ipsum dolor sit amet."),
        ("fake.odt", "Header row: Time · Mon: 1pm · Wed: 2pm · Fri: 3pm"),
        ("example-steelJIS-datasheet.html", "C: 0.39 - 0.46 · Si: 0.2 - 0.35"),
        ("fake-doc.rtf", "My first paragraph."),
        ("korean-text-with-tables.pdf", "적립 제외 대상"),
    ],
)
def test_content_is_extracted(name: str, expected: str) -> None:
    if not FORMATS.is_dir():
        pytest.skip("shared corpora not available")

    assert expected in _text(_load_corpus_file(FORMATS / name))


def test_markdown_heading_right_under_a_table_is_a_heading(tmp_path: Path) -> None:
    path = tmp_path / "hardware.md"
    path.write_text(
        "# Hardware\n\n| level | memory |\n| --- | --- |\n| INT4 | 6 GB |\n## Install\n\nRun pip install.\n",
        encoding="utf-8",
    )
    blocks = load_file(path)
    table = next(block for block in blocks if "INT4" in block.page_content)
    assert "level: INT4 · memory: 6 GB" in table.page_content
    assert "Install" not in table.page_content
    assert any(block.metadata.get("headings") == "Hardware > Install" for block in blocks)


def test_markdown_list_right_under_a_paragraph_line_keeps_one_item_per_paragraph(tmp_path: Path) -> None:
    # As in zh-chatglm's PROJECT.md: the list starts on the line after its lead-in, with no blank line.
    path = tmp_path / "projects.md"
    path.write_text(
        "# 友情链接\n\n加速 ChatGLM 的项目：\n* lyraChatGLM: 推理加速到 9000+ tokens/s\n"
        "* ChatGLM-MNN: 基于 MNN 的 C++ 推理\n\n```\nprint(1)\n* not an item\n```\n",
        encoding="utf-8",
    )
    paragraphs = _text(load_file(path)).split("\n\n")
    assert "加速 ChatGLM 的项目：" in paragraphs
    assert "lyraChatGLM: 推理加速到 9000+ tokens/s" in paragraphs
    assert "ChatGLM-MNN: 基于 MNN 的 C++ 推理" in paragraphs
    assert any("print(1)\n* not an item" in paragraph for paragraph in paragraphs)


@pytest.mark.parametrize("name", ["archive.zip", "main.go", "Makefile", "clip.mp4"])
def test_unknown_types_are_unsupported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"not a document")

    with pytest.raises(UnsupportedFileType, match="unsupported file"):
        load_file(path)


def test_suffix_match_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "NOTES.TXT"
    path.write_text("upper-case suffix", encoding="utf-8")

    assert _text(load_file(path)) == "upper-case suffix"


@pytest.mark.parametrize("content", [b"", b"  \n\t\n ", "  \n".encode("utf-16")])
def test_empty_text_is_an_ingest_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)

    with pytest.raises(IngestError, match="no text"):
        load_file(path)


def test_binary_data_in_a_text_file_is_an_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(bytes(range(256)) * 8)

    with pytest.raises(IngestError, match="binary"):
        load_file(path)


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a readable file"):
        load_file(tmp_path / "gone.md")
