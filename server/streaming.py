"""Running an answer for an HTTP client: in the model's queue, stopped as soon as the client goes away.

``answer_events`` is the one path every protocol (kb, OpenAI, ChatGLM) takes to the model. For a
streamed reply, ``EventStream`` watches for the client's disconnect while it sends and closes the event
source the moment it happens; for a plain reply, ``until_disconnected`` does the same around the wait.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from fastapi.sse import format_sse_event
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kb import Answer, AnswerEvent
from server.generation import Ticket, iterate_in_thread

__all__ = [
    "ClientDisconnected",
    "EventStream",
    "answer_events",
    "answer_unless_disconnected",
    "final_answer",
    "sse",
    "until_disconnected",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away before its answer was ready; the generation was stopped."""


async def answer_events(
    ticket: Ticket, make_events: Callable[[], Iterator[AnswerEvent]]
) -> AsyncGenerator[AnswerEvent, None]:
    """Wait for the model, then yield the facade's answer events; closing this generator stops the model.

    ``make_events`` is called only once the turn has come, so nothing (not even retrieval) runs ahead of
    the queue. Always consume it under ``contextlib.aclosing``.
    """
    async with ticket, aclosing(iterate_in_thread(make_events())) as events:
        async for event in events:
            yield event


async def final_answer(ticket: Ticket, make_events: Callable[[], Iterator[AnswerEvent]]) -> Answer:
    """Run the answer events to the end and return the ``Answer``."""
    async with aclosing(answer_events(ticket, make_events)) as events:
        async for event in events:
            if isinstance(event, Answer):
                return event
    raise RuntimeError("the answer stream ended without an Answer")


async def answer_unless_disconnected(
    request: Request, ticket: Ticket, make_events: Callable[[], Iterator[AnswerEvent]]
) -> Answer:
    """The final ``Answer`` of a queued generation that stops if the client disconnects.

    Raises:
        ClientDisconnected: the client went away first.
    """
    try:
        return await until_disconnected(request, lambda: final_answer(ticket, make_events))
    finally:
        ticket.release()  # also when the work was cancelled before it ever entered the queue


async def _disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnected(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Await ``work()`` unless the client disconnects first, in which case the work is cancelled.

    Raises:
        ClientDisconnected: the client went away first.
    """
    outcome: dict[str, Any] = {}

    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                outcome["value"] = await work()
            except Exception as e:  # carried out of the task group unwrapped, for the exception handlers
                outcome["error"] = e
            group.cancel_scope.cancel()

        group.start_soon(run)
        await _disconnect(request.receive)
        group.cancel_scope.cancel()
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome:
        raise ClientDisconnected("client disconnected before the answer was ready")
    value: T = outcome["value"]
    return value


def sse(event: str | None, data: Mapping[str, Any] | str) -> bytes:
    """One server-sent event; ``data`` is sent as JSON unless it is already a string."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return format_sse_event(event=event, data_str=text)


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that stops its source as soon as the client disconnects.

    Starlette notices a vanished client only when a write fails, which can be many seconds away while
    the model is still reading the prompt; this response listens for the disconnect the whole time,
    then closes the event generator (stopping generation) and gives the queue ticket back.
    """

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], *, ticket: Ticket | None = None) -> None:
        """Stream ``content``; ``ticket`` is released however the response ends (even if never started)."""
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._content = content
        self._ticket = ticket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream while watching for the client's disconnect."""
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:  # the server reports a write to a closed connection
                        logger.info("client gone during stream")
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await _disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._content, "aclose", None)
                if aclose is not None:
                    await aclose()
                if self._ticket is not None:
                    self._ticket.release()
