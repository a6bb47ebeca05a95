"""Group a document's paragraphs into blocks that share a page and a heading path."""

from __future__ import annotations

import re

from langchain_core.documents import Document

__all__ = ["HEADING_SEPARATOR", "BlockBuilder"]

#: Joins the titles of a heading path, outermost first: ``"安装 > 环境配置"``.
HEADING_SEPARATOR = " > "

_WHITESPACE = re.compile(r"\s+")


class BlockBuilder:
    """Collects paragraphs in reading order and cuts blocks at each heading or page change.

    A block's text is its paragraphs joined by a blank line. Its metadata holds ``page`` when a
    page was given and ``headings`` when a heading is open.
    """

    def __init__(self) -> None:
        """Start with no blocks and no open heading."""
        self._blocks: list[Document] = []
        self._parts: list[str] = []
        self._key: tuple[int | None, str] = (None, "")
        self._open_headings: list[tuple[int, str]] = []

    def heading(self, text: str, *, level: int, page: int | None = None, keep_text: bool = True) -> None:
        """Open a heading of ``level`` (smaller is outer); it closes headings at or below it.

        With ``keep_text`` the heading's text also starts the new block's content.
        """
        title = _WHITESPACE.sub(" ", text).strip()
        if not title:
            return
        while self._open_headings and self._open_headings[-1][0] >= level:
            self._open_headings.pop()
        self._open_headings.append((level, title))
        if keep_text:
            self.paragraph(text, page=page)

    def paragraph(self, text: str, *, page: int | None = None) -> None:
        """Append one paragraph; blank ones are ignored."""
        text = text.strip()
        if not text:
            return
        key = (page, HEADING_SEPARATOR.join(title for _, title in self._open_headings))
        if key != self._key:
            self._flush()
            self._key = key
        self._parts.append(text)

    def build(self) -> list[Document]:
        """Return the blocks collected so far, in reading order."""
        self._flush()
        return list(self._blocks)

    def _flush(self) -> None:
        if not self._parts:
            return
        page, headings = self._key
        metadata: dict[str, int | str] = {}
        if page is not None:
            metadata["page"] = page
        if headings:
            metadata["headings"] = headings
        self._blocks.append(Document(page_content="\n\n".join(self._parts), metadata=metadata))
        self._parts = []
