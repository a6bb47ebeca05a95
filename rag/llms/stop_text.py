"""Cut streamed text at the first stop sequence without ever emitting part of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["StopTextFilter"]


class StopTextFilter:
    """Incremental filter that truncates a text stream at the earliest stop sequence.

    Text that could still turn out to be the start of a stop sequence is held back until the next
    piece decides it, so a consumer never sees a partial stop string.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        """Create a filter.

        Args:
            stops: Stop sequences; empty strings are ignored.
        """
        self._stops = [stop for stop in dict.fromkeys(stops) if stop]
        self._longest = max((len(stop) for stop in self._stops), default=0)
        self._buffer = ""
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """Whether a stop sequence has been seen; later input is discarded."""
        return self._stopped

    def feed(self, text: str) -> str:
        """Add a piece of generated text and return what is safe to emit now."""
        if self._stopped:
            return ""
        self._buffer += text
        cut = min((i for i in (self._buffer.find(stop) for stop in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            emitted, self._buffer, self._stopped = self._buffer[:cut], "", True
            return emitted
        held = self._held_suffix_length()
        emitted = self._buffer[: len(self._buffer) - held]
        self._buffer = self._buffer[len(self._buffer) - held :]
        return emitted

    def flush(self) -> str:
        """Return the text still held back once generation has ended without a stop."""
        emitted, self._buffer = ("" if self._stopped else self._buffer), ""
        return emitted

    def _held_suffix_length(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of some stop sequence."""
        for length in range(min(len(self._buffer), self._longest - 1), 0, -1):
            suffix = self._buffer[-length:]
            if any(stop.startswith(suffix) for stop in self._stops):
                return length
        return 0
