"""Turn a third-party exception into the one-line reason an ``IngestError`` carries."""

from __future__ import annotations

__all__ = ["one_line_reason"]

_MAX_REASON_CHARS = 200


def one_line_reason(error: BaseException) -> str:
    """Return ``error``'s message on one line, at most 200 characters, never empty."""
    message = " ".join(str(error).split()) or type(error).__name__
    if len(message) > _MAX_REASON_CHARS:
        return message[: _MAX_REASON_CHARS - 3] + "..."
    return message
