"""The parser process: reads one file at a time for ``ingest.contained``, under a memory limit it sets itself.

Run as ``python -m ingest.parse_worker MEMORY_MB``. Requests arrive on stdin and replies leave on the
original stdout as length-prefixed JSON frames (``{"progress": true}`` after each OCR'd page, then the result); everything a library prints goes to stderr instead, so
no parser can corrupt the stream. JSON, not pickle: the parent never unpickles what a parser produced.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

__all__ = ["main", "read_frame", "write_frame"]

_ZIP_SUFFIXES = frozenset({".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".epub"})
_LENGTH = struct.Struct("<Q")


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    """One JSON message, length first."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def check_archive(path: Path, *, max_expanded_mb: int, max_members: int) -> str | None:
    """Why a zip-based document must not be opened (a zip bomb), from its directory alone; None if it may."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return f"not a valid {path.suffix} file (its zip container is damaged: {e})"
    if len(members) > max_members:
        return f"archive has {len(members)} members, over the limit of {max_members} (KB_INGEST__MAX_ARCHIVE_MEMBERS)"
    expanded = sum(member.file_size for member in members)
    if expanded > max_expanded_mb * 1024 * 1024:
        return (
            f"archive expands to {expanded / 1024 / 1024:,.0f} MB, over the limit of {max_expanded_mb} MB "
            "(KB_INGEST__MAX_ARCHIVE_MB)"
        )
    return None


def _parse(request: dict[str, Any], replies: IO[bytes]) -> dict[str, Any]:
    from ingest.loaders import load_file
    from kbtypes.errors import IngestError, UnsupportedFileType

    path = Path(request["path"])
    max_chars = int(request["max_chars"])
    if path.suffix.lower() in _ZIP_SUFFIXES:
        refused = check_archive(
            path,
            max_expanded_mb=int(request["max_archive_mb"]),
            max_members=int(request["max_archive_members"]),
        )
        if refused:
            return {"error": refused}
    try:
        blocks = load_file(
            path, max_chars=max_chars, on_page=lambda: write_frame(replies, {"progress": True})
        )
    except IngestError as e:
        return {"error": str(e), "unsupported": isinstance(e, UnsupportedFileType)}
    return {"blocks": [{"text": block.page_content, "metadata": block.metadata} for block in blocks]}


def main() -> None:
    """Serve parse requests until stdin closes."""
    memory_mb = int(sys.argv[1])
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a parser prints lands on stderr, never in the reply stream
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    write_frame(replies, {"ready": True})
    while (request := read_frame(requests)) is not None:
        try:
            reply = _parse(request, replies)
        except MemoryError:  # anywhere in a parse, the archive check included
            reply = {
                "error": f"parsing needed more than the {memory_mb} MB memory limit (KB_INGEST__PARSE_MEMORY_MB)"
            }
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
