"""Reading files ahead of the embedder: hash, parse and chunk the next files while the current batch embeds.

Parsing is mostly I/O and C (pdfium, lxml) or Python that yields the GIL to torch's matrix kernels, so a
single worker thread a couple of files ahead hides it behind embedding. The worker only reads: every
decision that writes (manifest, report) stays with the caller, in file order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from langchain_core.documents import Document

from ingest.identity import file_sha256
from ingest.manifest import FileRecord
from ingest.scan import Candidate
from kbtypes.errors import IngestError

__all__ = ["FileRead", "ReadKind", "read_ahead"]

logger = logging.getLogger(__name__)


class ReadKind(Enum):
    """What reading a file found."""

    UNCHANGED_STAT = "unchanged-stat"  # size and mtime match an indexed or failed record: not opened
    UNCHANGED_CONTENT = "unchanged-content"  # touched, but the bytes hash the same
    UNREADABLE = "unreadable"  # the file could not be opened or hashed
    FAILED = "failed"  # read, but the loader refused it (broken, encrypted, empty)
    CHANGED = "changed"  # new or changed: chunks are ready


@dataclass(frozen=True)
class FileRead:
    """One file's outcome, handed back in scan order."""

    candidate: Candidate
    record: FileRecord | None
    kind: ReadKind
    sha256: str = ""
    chunks: tuple[Document, ...] = ()
    reason: str = ""


def read_ahead(
    candidates: Iterable[Candidate],
    records: Mapping[str, FileRecord],
    chunker: Callable[[Candidate], list[Document]],
    *,
    depth: int = 2,
) -> Generator[FileRead, None, None]:
    """Outcomes in ``candidates`` order, with up to ``depth`` files read ahead in one worker thread.

    A file whose record is stale (indexed under another chunking recipe) is parsed again even when it
    matches its record.

    Closing the iterator early (a stop) cancels what has not started and waits for the file being read.
    Errors other than unreadable or refused files propagate from the position they happened at.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-read")
    queued: deque[FileRead | Future[FileRead]] = deque()
    try:
        for candidate in candidates:
            record = records.get(candidate.source)
            if _unchanged_by_stat(candidate, record):
                queued.append(FileRead(candidate, record, ReadKind.UNCHANGED_STAT))
            else:
                queued.append(pool.submit(_read, candidate, record, chunker))
            while sum(isinstance(item, Future) for item in queued) > depth or (
                queued and not isinstance(queued[0], Future)
            ):
                yield _settled(queued.popleft())
        while queued:
            yield _settled(queued.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _settled(item: FileRead | Future[FileRead]) -> FileRead:
    return item.result() if isinstance(item, Future) else item


def _unchanged_by_stat(candidate: Candidate, record: FileRecord | None) -> bool:
    return (
        record is not None
        and record.status != "pending"
        and not record.stale
        and record.size == candidate.size
        and record.mtime_ns == candidate.mtime_ns
    )


def _read(
    candidate: Candidate, record: FileRecord | None, chunker: Callable[[Candidate], list[Document]]
) -> FileRead:
    try:
        sha = file_sha256(candidate.path)
    except OSError as e:
        return FileRead(candidate, record, ReadKind.UNREADABLE, reason=f"cannot read file: {e.strerror or e}")
    if record is not None and record.status == "indexed" and not record.stale and record.sha256 == sha:
        return FileRead(candidate, record, ReadKind.UNCHANGED_CONTENT, sha256=sha)
    try:
        chunks = chunker(candidate)
    except IngestError as e:
        return FileRead(candidate, record, ReadKind.FAILED, sha256=sha, reason=str(e))
    return FileRead(candidate, record, ReadKind.CHANGED, sha256=sha, chunks=tuple(chunks))
