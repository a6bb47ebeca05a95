"""Stable identities: content hashes of chunk texts and files, and chunk ids that survive edits elsewhere."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

__all__ = ["chunk_id", "content_hash", "file_sha256"]

_HASH_BLOCK = 1 << 20


def content_hash(text: str) -> str:
    """Hash of a chunk's text: identical texts share one embedding across files and runs."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def chunk_id(source: str, text_hash: str, occurrence: int) -> str:
    """Stable id of a chunk.

    Built from the source, the text and the how-manyth repeat of that text in the file, not the chunk's
    position, so editing the start of a file keeps the ids (and the stored vectors) of untouched chunks.
    """
    return hashlib.sha256(f"{source}\x00{text_hash}\x00{occurrence}".encode()).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in blocks so large files stay out of memory.

    Opened without blocking and checked to be a regular file before a byte is read: a file swapped for a
    named pipe after the scan cannot hang the run.

    Raises:
        OSError: the file cannot be opened, or it is not a regular file.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        digest = hashlib.sha256()
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
