"""Search plumbing of the facade: retrieval filters in both stores' terms, and hits as result types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kbtypes.results import SearchHit

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = ["hit_from_document", "lexical_predicate", "vector_filter"]


def vector_filter(sources: set[str] | None, file_types: Sequence[str] | None) -> dict[str, Any] | None:
    """The filter in the vector store's ``where`` syntax (``rag.store`` documents it)."""
    from rag.store import metadata_filter

    return metadata_filter(sources=sources, file_types=file_types)


def lexical_predicate(
    sources: set[str] | None, file_types: Sequence[str] | None
) -> Callable[[Mapping[str, Any]], bool] | None:
    """The same filter as a function of chunk metadata, for the lexical side."""
    if sources is None and not file_types:
        return None
    types = set(file_types) if file_types else None

    def predicate(metadata: Mapping[str, Any]) -> bool:
        if sources is not None and metadata.get("source") not in sources:
            return False
        return types is None or metadata.get("suffix") in types

    return predicate


def hit_from_document(doc: Document) -> SearchHit:
    """Convert a retrieved LangChain document into a ``SearchHit``."""
    metadata = doc.metadata
    return SearchHit(
        source=str(metadata.get("source", "")),
        page=metadata.get("page"),
        chunk_id=str(metadata.get("id", doc.id or "")),
        score=float(metadata.get("score", 0.0)),
        text=doc.page_content,
        headings=metadata.get("headings"),
        start=metadata.get("start"),
    )
