"""Typed results the facade returns to the CLI, the server and library users."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["DocumentInfo", "KnowledgeBaseInfo", "SearchHit"]


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


class KnowledgeBaseInfo(BaseModel):
    """Summary of one knowledge base."""

    name: str
    description: str = ""
    documents: int
    chunks: int
    embedding_model: str
