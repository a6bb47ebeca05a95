"""Split a file's blocks into chunks at the most natural boundary that fits, Chinese-aware.

Boundaries are tried in this order: paragraph (blank line), sentence end (``。！？；!?``, with any
closing quote or bracket, and ``. ! ?`` followed by whitespace), line end, clause punctuation
(``，,、：:;``), space, and finally a hard cut for a sentence longer than the chunk size. Every chunk
records where it starts in :func:`extracted_text` of its file, and stays inside one block, so it
never spans two pages or two heading sections.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from langchain_core.documents import Document

from kbtypes.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BLOCK_SEPARATOR",
    "CHUNKING_VERSION",
    "SEPARATORS",
    "extracted_text",
    "split_blocks",
    "stored_metadata",
]

logger = logging.getLogger(__name__)

#: Raised whenever the loaders or this splitter turn a file into different chunks (2: table rows name their
#: columns; 3: a Markdown list right under a paragraph line keeps one item per paragraph); a knowledge base
#: indexed with another version reads its files again on the next ingest.
CHUNKING_VERSION: Final = 3

#: Joins blocks into a file's extracted text; ``start`` offsets count in that text.
BLOCK_SEPARATOR: Final = "\n\n"

_CLOSERS = "”’」』）)\"'"
_ZH_ENDS = "。！？；!?"

#: Regular expressions, tried in order; each match stays at the end of the piece before it.
SEPARATORS: Final[tuple[str, ...]] = (
    r"\n[^\S\n]*\n\s*",
    # Zero-width after a sentence end not followed by a closer, or after end + closer; or the
    # whitespace after an English sentence end (with an optional closer).
    rf"(?<=[{_ZH_ENDS}])(?![{_CLOSERS}])|(?<=[{_ZH_ENDS}][{_CLOSERS}])|(?<=[.!?])\s+|(?<=[.!?][{_CLOSERS}])\s+",
    r"\n",
    r"(?<=[，,、：:;])",
    r" +",
    "",
)


def extracted_text(blocks: Sequence[Document]) -> str:
    """Return a file's extracted text: its blocks' content joined by a blank line."""
    return BLOCK_SEPARATOR.join(block.page_content for block in blocks)


def split_blocks(blocks: list[Document], *, chunk_size: int, chunk_overlap: int) -> list[Document]:
    """Split one file's blocks into chunks of at most ``chunk_size`` characters.

    Args:
        blocks: The file's blocks, as returned by ``ingest.loaders.load_file``.
        chunk_size: Maximum chunk length in characters.
        chunk_overlap: How many characters of whole pieces (sentences, clauses) a chunk may
            repeat from the end of the previous chunk of the same block.

    Returns:
        Chunks in reading order, none whitespace-only. Each carries its block's metadata
        (``page``, ``headings``) plus ``"start"``, its offset in ``extracted_text(blocks)``, so
        ``extracted_text(blocks)[start:start + len(chunk)] == chunk.page_content``.

    Raises:
        ConfigError: ``chunk_size`` is not positive or ``chunk_overlap`` is outside
            ``[0, chunk_size)``.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got chunk_size={chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise ConfigError(
            f"chunk_overlap must be >= 0 and smaller than chunk_size, got "
            f"chunk_overlap={chunk_overlap} chunk_size={chunk_size}"
        )
    # Imported here: it loads LangChain's runnables, which a process that only searches never needs.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        separators=list(SEPARATORS),
        keep_separator="end",
        is_separator_regex=True,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        strip_whitespace=True,
    )
    chunks: list[Document] = []
    block_start = 0
    for block in blocks:
        text = block.page_content
        spans = _locate(text, splitter.split_text(text), chunk_overlap=chunk_overlap)
        for start, end in _merge_adjacent(spans, chunk_size=chunk_size):
            chunks.append(
                Document(
                    page_content=text[start:end], metadata={**block.metadata, "start": block_start + start}
                )
            )
        block_start += len(text) + len(BLOCK_SEPARATOR)
    return chunks


def _locate(text: str, pieces: list[str], *, chunk_overlap: int) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` span of each chunk in its block.

    The splitter returns chunks in order, each a (whitespace-stripped) substring of the block
    that starts no earlier than ``chunk_overlap`` characters before the previous chunk ends.
    """
    located: list[tuple[int, int]] = []
    previous_end = 0
    for piece in pieces:
        start = text.find(piece, max(0, previous_end - chunk_overlap))
        if start < 0:
            raise RuntimeError("text splitter returned a chunk that is not a substring of its block")
        previous_end = start + len(piece)
        located.append((start, previous_end))
    return located


def _merge_adjacent(spans: list[tuple[int, int]], *, chunk_size: int) -> list[tuple[int, int]]:
    """Join neighbouring chunks whose combined span still fits in ``chunk_size``.

    The recursive splitter never merges pieces it split at different levels, so a short heading
    paragraph followed by a long, sentence-split paragraph would otherwise stay a chunk of its own.
    """
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and end - merged[-1][0] <= chunk_size:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def stored_metadata(chunk: Document, *, source: str, index: int, text_hash: str) -> dict[str, Any]:
    """What the index stores with a chunk: where it comes from, its place in the file and its content hash."""
    metadata: dict[str, Any] = {
        "source": source,
        "suffix": PurePosixPath(source).suffix.lower().lstrip(".") or "none",
        "chunk_index": index,
        "start": int(chunk.metadata.get("start", 0)),
        "content_hash": text_hash,
    }
    if chunk.metadata.get("page") is not None:
        metadata["page"] = int(chunk.metadata["page"])
    if chunk.metadata.get("headings"):
        metadata["headings"] = str(chunk.metadata["headings"])
    return metadata
