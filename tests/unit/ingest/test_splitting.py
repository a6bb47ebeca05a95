"""ingest.splitting: natural boundaries (Chinese and English), size limit, exact offsets, overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document

from ingest.loaders import load_file
from ingest.splitting import extracted_text, split_blocks
from kbtypes.errors import ConfigError

ZH_CHATGLM = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "zh-chatglm"

ZH_SENTENCES = [
    "ChatGLM-6B 是一个开源的对话语言模型。",
    "它基于 General Language Model 架构！",
    "用户可以在消费级显卡上部署吗？",
    "可以，INT4 量化后只需 6GB 显存；",
    "模型还支持 P-Tuning v2 微调。",
    "“这很方便。”",
    "欢迎体验。",
]


def _assert_offsets_exact(blocks: list[Document], chunks: list[Document]) -> None:
    text = extracted_text(blocks)
    for chunk in chunks:
        start = chunk.metadata["start"]
        assert text[start : start + len(chunk.page_content)] == chunk.page_content


def test_extracted_text_joins_blocks_with_a_blank_line() -> None:
    blocks = [Document(page_content="a"), Document(page_content="b c")]

    assert extracted_text(blocks) == "a\n\nb c"


def test_chinese_chunks_end_at_sentence_ends() -> None:
    blocks = [Document(page_content="".join(ZH_SENTENCES))]

    chunks = split_blocks(blocks, chunk_size=45, chunk_overlap=0)

    assert len(chunks) > 2
    sentence_ends = {sentence[-1] for sentence in ZH_SENTENCES}
    assert all(chunk.page_content[-1] in sentence_ends for chunk in chunks)
    # Every sentence appears whole in some chunk: no sentence was cut although all fit.
    assert all(any(sentence in chunk.page_content for chunk in chunks) for sentence in ZH_SENTENCES)
    # The closing quote stays with its sentence.
    assert not any(chunk.page_content.startswith("”") for chunk in chunks)
    _assert_offsets_exact(blocks, chunks)


def test_english_sentences_split_after_punctuation_and_space() -> None:
    text = "Version 3.14 is out. It fixes bugs! Does it break anything? No. Upgrade now."
    blocks = [Document(page_content=text)]

    chunks = split_blocks(blocks, chunk_size=25, chunk_overlap=0)

    assert [chunk.page_content for chunk in chunks] == [
        "Version 3.14 is out.",
        "It fixes bugs!",
        "Does it break anything?",
        "No. Upgrade now.",
    ]
    _assert_offsets_exact(blocks, chunks)


def test_paragraph_break_is_preferred_over_sentence_end() -> None:
    first = "第一段第一句。第一段第二句。"
    second = "第二段只有一句。"
    blocks = [Document(page_content=f"{first}\n\n{second}")]

    chunks = split_blocks(blocks, chunk_size=len(first) + 5, chunk_overlap=0)

    assert [chunk.page_content for chunk in chunks] == [first, second]


def test_sentence_longer_than_the_limit_is_cut_hard() -> None:
    sentence = "这是一个没有任何标点符号而且非常非常长的句子它必须被硬切" * 3
    blocks = [Document(page_content=f"短句。{sentence}。")]

    chunks = split_blocks(blocks, chunk_size=20, chunk_overlap=0)

    assert all(len(chunk.page_content) <= 20 for chunk in chunks)
    assert "".join(chunk.page_content for chunk in chunks) == blocks[0].page_content
    _assert_offsets_exact(blocks, chunks)


def test_overlap_repeats_whole_sentences_from_the_previous_chunk() -> None:
    sentences = [f"第{i}句话。" for i in range(10, 40)]  # 5 characters each
    blocks = [Document(page_content="".join(sentences))]

    chunks = split_blocks(blocks, chunk_size=20, chunk_overlap=10)

    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        previous_end = previous.metadata["start"] + len(previous.page_content)
        overlap = previous_end - current.metadata["start"]
        assert 5 <= overlap <= 10
        assert current.page_content.startswith(previous.page_content[-overlap:])
    assert all(len(chunk.page_content) <= 20 for chunk in chunks)
    _assert_offsets_exact(blocks, chunks)


def test_no_overlap_means_disjoint_chunks() -> None:
    blocks = [Document(page_content="".join(ZH_SENTENCES * 3))]

    chunks = split_blocks(blocks, chunk_size=60, chunk_overlap=0)

    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.metadata["start"] >= previous.metadata["start"] + len(previous.page_content)


def test_chunks_never_span_pages_and_carry_block_metadata() -> None:
    blocks = [
        Document(page_content="短。", metadata={"page": 1}),
        Document(page_content="另一页。", metadata={"page": 2, "headings": "安装 > 环境配置"}),
    ]

    chunks = split_blocks(blocks, chunk_size=100, chunk_overlap=10)

    assert [(chunk.page_content, chunk.metadata) for chunk in chunks] == [
        ("短。", {"page": 1, "start": 0}),
        ("另一页。", {"page": 2, "headings": "安装 > 环境配置", "start": 4}),
    ]


def test_whitespace_only_pieces_are_dropped() -> None:
    blocks = [Document(page_content="甲。\n\n   \n\n\t\n\n乙。")]

    chunks = split_blocks(blocks, chunk_size=3, chunk_overlap=0)

    assert [chunk.page_content for chunk in chunks] == ["甲。", "乙。"]
    _assert_offsets_exact(blocks, chunks)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1), (10, 20)])
def test_invalid_sizes_are_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ConfigError, match="chunk_"):
        split_blocks([Document(page_content="x")], chunk_size=size, chunk_overlap=overlap)


def _zh_docs() -> list[Path]:
    if not ZH_CHATGLM.is_dir():
        return []
    return sorted(path for path in ZH_CHATGLM.iterdir() if path.suffix == ".md")


@pytest.mark.parametrize("path", _zh_docs(), ids=lambda path: path.name)
@pytest.mark.parametrize(("size", "overlap"), [(200, 40), (500, 0)])
def test_chatglm_docs_split_within_limit_with_exact_offsets(path: Path, size: int, overlap: int) -> None:
    blocks = load_file(path)

    chunks = split_blocks(blocks, chunk_size=size, chunk_overlap=overlap)

    assert chunks
    assert all(0 < len(chunk.page_content) <= size for chunk in chunks)
    assert all(chunk.page_content.strip() == chunk.page_content for chunk in chunks)
    _assert_offsets_exact(blocks, chunks)
    # Headings from the markdown reach the chunks.
    assert any("headings" in chunk.metadata for chunk in chunks)
    # Nothing is lost: every non-space character of the text is in some chunk.
    text = extracted_text(blocks)
    covered = bytearray(len(text))
    for chunk in chunks:
        start = chunk.metadata["start"]
        covered[start : start + len(chunk.page_content)] = b"\x01" * len(chunk.page_content)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


def test_chatglm_readme_chunks_mostly_end_at_sentence_or_paragraph_ends() -> None:
    if not ZH_CHATGLM.is_dir():
        pytest.skip("shared corpora not available")
    blocks = load_file(ZH_CHATGLM / "README.md")
    text = extracted_text(blocks)

    chunks = split_blocks(blocks, chunk_size=300, chunk_overlap=0)

    natural = 0
    for chunk in chunks:
        end = chunk.metadata["start"] + len(chunk.page_content)
        if chunk.page_content[-1] in "。！？；!?.:：" or text[end : end + 1] in ("", "\n"):
            natural += 1
    assert natural / len(chunks) > 0.9
