"""A multipart parser that stops at the first file over the size limit, while the upload streams in.

Starlette's ``MultiPartParser`` caps form fields (``max_part_size``) but writes every file part to disk
whatever its size, so a 1.5 GB file was on disk before kb could answer 413. This subclass counts each
file part's bytes in ``on_part_data``, the parser's per-chunk callback, and fails the parse as soon as one
passes the limit. It is the only code that extends Starlette's parser (``on_part_begin`` resets the count); the tests in
``tests/integration/test_server_hostile.py`` fails if that callback changes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

__all__ = ["FILE_TOO_LARGE", "LimitedMultiPartParser"]

FILE_TOO_LARGE = "File exceeded the upload limit"


class LimitedMultiPartParser(MultiPartParser):
    """``MultiPartParser`` with a per-file byte limit enforced during parsing."""

    def __init__(
        self,
        headers: Headers,
        stream: AsyncGenerator[bytes, None],
        *,
        max_files: int,
        max_fields: int,
        max_file_bytes: int,
    ) -> None:
        """Parse ``stream``; any file part over ``max_file_bytes`` raises ``MultiPartException``."""
        super().__init__(headers, stream, max_files=max_files, max_fields=max_fields)
        self._max_file_bytes = max_file_bytes
        self._part_bytes = 0

    def on_part_begin(self) -> None:
        """A new part starts: its count starts at zero."""
        super().on_part_begin()
        self._part_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        """Count a file part's bytes before handing them to Starlette."""
        if self._current_part.file is not None:
            self._part_bytes += end - start
            if self._part_bytes > self._max_file_bytes:
                raise MultiPartException(f"{FILE_TOO_LARGE} of {self._max_file_bytes} bytes")
        super().on_part_data(data, start, end)
