"""Uploaded files on disk: safe names, size and count limits, and the uploads folder of a knowledge base.

No client-chosen name reaches the file system unchecked: names with ``..`` components, absolute paths,
NUL or control characters are refused, directories in a name are dropped, and every file is written to
a temporary name first and renamed into place only once the whole request has been accepted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO

import anyio.to_thread
from fastapi import HTTPException, status
from starlette.datastructures import UploadFile

from kb import UnsupportedFileType, supported_suffixes

__all__ = [
    "TEXT_SUFFIXES",
    "PendingFile",
    "commit",
    "delete_upload",
    "discard",
    "safe_filename",
    "stage_text",
    "stage_upload",
]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
"""Suffixes a JSON text document may be stored under."""

_MAX_NAME_BYTES = 200
_COPY_BLOCK = 1 << 20


@dataclass(frozen=True)
class PendingFile:
    """An accepted upload written to a temporary file, not yet under its final name."""

    temp: Path
    target: Path


def _bad_name(name: str, why: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"rejected file name {name!r}: {why}")


def safe_filename(name: str, *, suffixes: Sequence[str] | None = None) -> str:
    """Return the plain file name to store an upload under, or refuse the name.

    Directories in the name are dropped (``docs/a.md`` is stored as ``a.md``); anything that could
    escape the uploads folder or confuse a file system is refused.

    Raises:
        HTTPException: 400 for an empty, hidden, over-long or unsafe name (``..``, absolute, NUL, controls).
        UnsupportedFileType: kb cannot index files with this suffix.
    """
    if not name or not name.strip():
        raise _bad_name(name, "empty name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise _bad_name(name, "NUL or control characters are not allowed")
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        raise _bad_name(name, "absolute paths are not allowed")
    parts = name.replace("\\", "/").split("/")
    if any(part in ("..", ".") for part in parts):
        raise _bad_name(name, "'..' and '.' path components are not allowed")
    base = unicodedata.normalize("NFC", parts[-1]).strip()
    if not base or base.startswith("."):
        raise _bad_name(name, "hidden or empty file names are not allowed")
    if len(base.encode("utf-8")) > _MAX_NAME_BYTES:
        raise _bad_name(name, f"longer than {_MAX_NAME_BYTES} bytes")
    suffix = Path(base).suffix.lower()
    allowed = supported_suffixes() if suffixes is None else suffixes
    if suffix not in allowed:
        raise UnsupportedFileType(
            f"kb cannot index {suffix or 'files without a suffix'} ({base!r}); supported: {', '.join(sorted(allowed))}"
        )
    return base


def _too_large(name: str, max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        f"file {name!r} is larger than the server's limit of {max_bytes / (1 << 20):g} MiB",
    )


def _copy_limited(source: IO[bytes], temp: Path, name: str, max_bytes: int) -> None:
    written = 0
    with temp.open("wb") as out:
        while block := source.read(_COPY_BLOCK):
            written += len(block)
            if written > max_bytes:
                raise _too_large(name, max_bytes)
            out.write(block)


async def stage_upload(upload: UploadFile, directory: Path, name: str, *, max_bytes: int) -> PendingFile:
    """Write an upload to a temporary file in ``directory`` (already named safely by ``safe_filename``).

    Raises:
        HTTPException: 413 when the file exceeds ``max_bytes``.
    """
    if upload.size is not None and upload.size > max_bytes:
        raise _too_large(name, max_bytes)
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".upload-{uuid.uuid4().hex}.part"
    try:
        await upload.seek(0)
        await anyio.to_thread.run_sync(_copy_limited, upload.file, temp, name, max_bytes)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return PendingFile(temp=temp, target=directory / name)


def stage_text(text: str, source: str, directory: Path, *, max_bytes: int) -> PendingFile:
    """Write a JSON text document to a temporary file; its name comes from ``source`` or the text's hash.

    Raises:
        HTTPException: 400 for an unsafe name, 413 when the text exceeds ``max_bytes``.
        UnsupportedFileType: ``source`` ends in something other than .txt or .md.
    """
    data = text.encode("utf-8")
    if not source:
        source = f"text-{hashlib.sha256(data).hexdigest()[:12]}.txt"
    elif not Path(source).suffix:
        source += ".txt"
    name = safe_filename(source, suffixes=TEXT_SUFFIXES)
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes)
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".upload-{uuid.uuid4().hex}.part"
    temp.write_bytes(data)
    return PendingFile(temp=temp, target=directory / name)


def commit(pending: Sequence[PendingFile]) -> list[Path]:
    """Rename staged files into place (replacing earlier uploads of the same name)."""
    for item in pending:
        os.replace(item.temp, item.target)
    return [item.target for item in pending]


def discard(pending: Sequence[PendingFile]) -> None:
    """Remove staged files of a rejected request."""
    for item in pending:
        item.temp.unlink(missing_ok=True)


def delete_upload(directory: Path, source: str) -> None:
    """Remove an uploaded file after its document left the index; sources outside the folder are left alone."""
    root = directory.resolve()
    path = (root / source).resolve()
    if path.parent != root:
        logger.warning("not deleting file outside uploads source=%s", source)
        return
    if path.is_file():
        path.unlink()
