"""The one-model queue: every answer waits its turn (FIFO) for the single chat model, in a bounded line.

A request first *reserves* a place (``GenerationQueue.reserve``), which fails at once with ``QueueFull``
when the line is long, so the route can answer 429 before it commits to a streaming response. It then
waits for its *turn* and runs the facade's synchronous event iterator in a worker thread, one event at a
time. Leaving the turn early (a client that disconnects, an error) closes that iterator, which stops the
model, and only then lets the next request in: the model never runs two generations at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.to_thread

__all__ = ["GenerationQueue", "QueueFull", "Ticket", "iterate_in_thread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_DONE = object()


class QueueFull(Exception):
    """The line for the model is full; retry after ``retry_after`` seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        """Record how many requests wait and when to retry."""
        super().__init__(
            f"the model is busy: {waiting} questions are already waiting; retry in about {retry_after}s"
        )
        self.waiting = waiting
        self.retry_after = retry_after


class GenerationQueue:
    """Serialises generations on one model, first come first served, with at most ``max_waiting`` in line."""

    def __init__(self, *, max_waiting: int) -> None:
        """Create an empty queue.

        Args:
            max_waiting: requests allowed to wait while one generates; the next one gets ``QueueFull``.
        """
        self.max_waiting = max_waiting
        self._lock = asyncio.Lock()  # asyncio.Lock wakes waiters in arrival order and lets none barge in
        self._reserved = 0
        self._mean_turn_s = 5.0

    @property
    def waiting(self) -> int:
        """Requests holding a place but not the model."""
        return max(0, self._reserved - (1 if self._lock.locked() else 0))

    @property
    def busy(self) -> bool:
        """Whether the model is generating for someone right now."""
        return self._lock.locked()

    def reserve(self) -> Ticket:
        """Take a place in line.

        Raises:
            QueueFull: ``max_waiting`` requests are already waiting.
        """
        if self._reserved >= self.max_waiting + 1:
            waiting = self.waiting
            retry_after = max(1, math.ceil(self._mean_turn_s * (waiting + 1)))
            logger.warning("queue full waiting=%d retry_after=%d", waiting, retry_after)
            raise QueueFull(waiting, retry_after)
        self._reserved += 1
        return Ticket(self)

    def _record_turn(self, seconds: float) -> None:
        # An exponential average keeps Retry-After near the current model speed.
        self._mean_turn_s = 0.8 * self._mean_turn_s + 0.2 * seconds


class Ticket:
    """A place in line; ``async with ticket:`` waits for the model and holds it for the block."""

    def __init__(self, queue: GenerationQueue) -> None:
        """A ticket for ``queue``; entering it waits for the model."""
        self._queue = queue
        self._released = False
        self._holding = False
        self._started = 0.0

    async def __aenter__(self) -> Ticket:
        """Wait for the model and hold it."""
        if self._released:
            raise RuntimeError("ticket already used")
        try:
            await self._queue._lock.acquire()
        except BaseException:
            self.release()
            raise
        self._holding = True
        self._started = time.perf_counter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Release the model for the next in line."""
        self.release()

    def release(self) -> None:
        """Give the place (and the model, if held) back; safe to call more than once."""
        if self._released:
            return
        self._released = True
        self._queue._reserved -= 1
        if self._holding:
            self._holding = False
            self._queue._record_turn(time.perf_counter() - self._started)
            self._queue._lock.release()


def _next(iterator: Iterator[T], lock: threading.Lock) -> T | object:
    with lock:
        return next(iterator, _DONE)


def _close(iterator: Iterator[T], lock: threading.Lock) -> None:
    # A cancelled ``run_sync`` may leave its ``next`` running in the worker thread; closing a generator
    # that is mid-``next`` raises, so wait for that step to finish first.
    with lock:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


async def iterate_in_thread(iterator: Iterator[T]) -> AsyncGenerator[T, None]:
    """Drive a blocking iterator from async code, one ``next`` per worker-thread call.

    When the consumer stops early (cancelled, or the generator is closed), the running ``next`` is
    allowed to finish and then the iterator is closed in a shielded thread call, so its cleanup (stopping
    the model) has completed before the caller releases its turn. Use it under ``contextlib.aclosing``.
    """
    lock = threading.Lock()
    try:
        while True:
            item = await anyio.to_thread.run_sync(_next, iterator, lock)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, iterator, lock)
