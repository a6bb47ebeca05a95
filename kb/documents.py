"""Documents as the facade shows them: stable ids, the indexed text in reading order, the original file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from kbtypes.errors import DocumentNotFound
from kbtypes.results import DocumentChunk, DocumentText

if TYPE_CHECKING:
    from ingest.manifest import FileRecord
    from rag.store import ChromaChunkStore

__all__ = ["doc_id_for", "file_of", "indexed_text"]


def doc_id_for(source: str) -> str:
    """Stable document id for a source path (used in URLs, where paths are awkward)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def indexed_text(source: str, record: FileRecord | None, store: ChromaChunkStore) -> DocumentText:
    """The chunks ``record`` owns, in document order (a chunk repeated in the file is stored, and shown, once)."""
    ids = list(record.chunk_ids) if record else []
    stored = sorted(store.get(ids), key=lambda chunk: int(chunk.metadata.get("chunk_index", 0)))
    chunks = [
        DocumentChunk(
            chunk_id=chunk.id,
            index=int(chunk.metadata.get("chunk_index", 0)),
            text=chunk.text,
            page=chunk.metadata.get("page"),
            headings=chunk.metadata.get("headings"),
            start=chunk.metadata.get("start"),
        )
        for chunk in stored
    ]
    status = record.status if record else "indexed"
    return DocumentText(doc_id=doc_id_for(source), source=source, status=status, chunks=chunks)


def file_of(source: str, record: FileRecord | None, uploads: Path) -> Path:
    """The file ``source`` was read from, if it is still there and inside the folder it was ingested from.

    Raises:
        DocumentNotFound: the file is gone, or the path would leave that folder.
    """
    root = Path(record.root) if record and record.root else uploads
    base = (root.parent if root.is_file() else root).resolve()
    path = (base / source).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise DocumentNotFound(f"the file of document {source!r} is no longer in {base}")
    return path
