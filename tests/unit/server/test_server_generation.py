"""The one-model queue: FIFO turns, a bounded line, and early exits that stop the model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import aclosing

import pytest

from server.generation import GenerationQueue, QueueFull, iterate_in_thread


def test_turns_are_first_come_first_served() -> None:
    async def scenario() -> list[int]:
        queue = GenerationQueue(max_waiting=5)
        order: list[int] = []
        release = asyncio.Event()
        first = queue.reserve()
        await first.__aenter__()  # someone is generating

        async def client(n: int) -> None:
            async with queue.reserve():
                order.append(n)

        tasks = []
        for n in range(5):
            tasks.append(asyncio.create_task(client(n)))
            await asyncio.sleep(0)  # each reaches the lock before the next one starts
        assert queue.waiting == 5
        release.set()
        await first.__aexit__(None, None, None)
        await asyncio.gather(*tasks)
        assert queue.waiting == 0
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]


def test_a_full_line_is_refused_with_a_retry_hint() -> None:
    queue = GenerationQueue(max_waiting=2)
    tickets = [queue.reserve() for _ in range(3)]  # one generating + two waiting
    with pytest.raises(QueueFull) as info:
        queue.reserve()
    assert info.value.retry_after >= 1
    tickets[0].release()
    tickets[0].release()  # idempotent: gives back one place only
    queue.reserve()
    with pytest.raises(QueueFull):
        queue.reserve()


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def scenario() -> None:
        queue = GenerationQueue(max_waiting=1)
        holder = queue.reserve()
        await holder.__aenter__()

        async def waiter() -> None:
            async with queue.reserve():
                raise AssertionError("must not get the turn")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            queue.reserve()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        queue.reserve().release()  # the place is free again
        await holder.__aexit__(None, None, None)

    asyncio.run(scenario())


def test_stopping_early_closes_the_blocking_iterator_before_returning() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def tokens() -> Iterator[int]:
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    async def scenario() -> list[int]:
        seen = []
        async with aclosing(iterate_in_thread(tokens())) as events:
            async for event in events:
                seen.append(event)
                if len(seen) == 3:
                    break
        assert closed.is_set()  # closed before aclosing returned, so the next turn cannot overlap
        return seen

    assert asyncio.run(scenario()) == [0, 1, 2]
    assert len(produced) == 3


def test_cancelling_the_consumer_closes_the_iterator() -> None:
    closed = threading.Event()
    started = threading.Event()

    def slow() -> Iterator[int]:
        try:
            while True:
                started.set()
                threading.Event().wait(0.01)
                yield 1
        finally:
            closed.set()

    async def consume() -> None:
        async with aclosing(iterate_in_thread(slow())) as events:
            async for _ in events:
                pass

    async def scenario() -> None:
        task = asyncio.create_task(consume())
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert closed.is_set()
