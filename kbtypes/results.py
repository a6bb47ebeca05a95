"""Typed results of ingest and search, shared by every layer and returned to library users."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

__all__ = [
    "DocumentChunk",
    "DocumentInfo",
    "DocumentText",
    "FileFailure",
    "IngestReport",
    "KnowledgeBaseInfo",
    "SearchHit",
]


class SearchHit(BaseModel):
    """One retrieved passage."""

    source: str = Field(description="File path relative to the ingested folder.")
    page: int | None = Field(default=None, description="Page or slide number, when the format has pages.")
    chunk_id: str = Field(description="Stable id of the chunk.")
    score: float = Field(description="Cosine similarity between the query and the passage.")
    text: str = Field(description="The passage.")
    headings: str | None = Field(default=None, description="Heading path above the passage, when known.")
    start: int | None = Field(default=None, description="Character offset of the passage in the file's text.")


class DocumentInfo(BaseModel):
    """One document known to a knowledge base."""

    doc_id: str = Field(description="Stable id of the document (hash of its source path).")
    source: str
    chunks: int
    sha256: str
    status: str = Field(description="indexed, pending or failed.")
    error: str = ""
    size: int


class DocumentChunk(BaseModel):
    """One chunk of a document, as kb indexed it."""

    chunk_id: str
    index: int = Field(description="Position of the chunk in the document, from 0.")
    text: str
    page: int | None = None
    headings: str | None = None
    start: int | None = Field(
        default=None, description="Character offset of the chunk in the document's text."
    )


class DocumentText(BaseModel):
    """A whole document as kb indexed it: its chunks in reading order (repeated chunks appear once)."""

    doc_id: str
    source: str
    status: str
    chunks: list[DocumentChunk]


class KnowledgeBaseInfo(BaseModel):
    """Summary of one knowledge base, with the models and chunking it was built with."""

    name: str
    description: str = ""
    documents: int
    chunks: int
    embedding_model: str
    chat_model: str = Field(
        default="", description="The chat model setting answers come from (``KB_LLM__SPEC``)."
    )
    chunk_size: int = Field(default=0, description="Longest chunk, in characters.")
    chunk_overlap: int = Field(default=0, description="Characters neighbouring chunks share.")
    retrieval_mode: str = Field(
        default="", description="dense, bm25 or hybrid, unless a request says otherwise."
    )
    k: int = Field(default=0, description="Passages retrieved per question.")


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be indexed, and why (one line)."""

    source: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    chunks_embedded: int = 0
    recovered: bool = False
    stopped: bool = False
    seconds: float = 0.0
    embed_seconds: float = 0.0
    embed_tokens: int = 0
    """Tokens the embedder read (0 when the model cannot count them)."""
    text_bytes: int = 0
    """UTF-8 bytes of chunk text from the files indexed in this run."""
