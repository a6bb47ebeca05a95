"""Ask a knowledge base: a cited answer as JSON, or streamed as server-sent events."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from functools import partial

from fastapi import APIRouter, Request, Response

from kb import Answer, AnswerEvent, KBError, KnowledgeBase, TokenEvent
from server.deps import CallerDep, KnowledgeBaseDep, ServicesDep, SettingsDep
from server.generation import Ticket
from server.request_body import check_conversation
from server.schemas import AskRequest, AskResponse, ErrorBody, answering_responses
from server.sessions import SessionStore
from server.streaming import EventStream, answer_events, answer_unless_disconnected, sse

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ask"])

_SSE_DOC = (
    'Server-sent events, in order: `token` (`{"text"}`, a piece of the answer, repeated), `sources` '
    '(`{"sources": [...]}`, the passages with their `cited` flags), then `done` (the full answer '
    'object, as in the JSON reply). On failure an `error` event (`{"detail", "type", "request_id"}`) '
    "ends the stream instead."
)


@router.post(
    "/kbs/{kb}/ask",
    response_model=AskResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": _SSE_DOC},
        404: {"model": ErrorBody, "description": "No knowledge base of that name."},
        **answering_responses(ErrorBody),
    },
)
async def ask(
    body: AskRequest,
    request: Request,
    kb: KnowledgeBaseDep,
    services: ServicesDep,
    caller: CallerDep,
    settings: SettingsDep,
) -> AskResponse | Response:
    """Answer a question from the knowledge base, citing its sources as `[n]` markers.

    The answer's `sources` are the passages the model was shown, numbered like the markers; `cited`
    tells which ones the answer draws on. When nothing relevant is found the answer is a refusal
    (`refused: true`) and the model is not called.

    Conversation: send earlier turns as `history` (`[[question, answer], ...]`), or send a
    `session_id` and the server keeps the last turns for you (its stored history then replaces
    `history`).

    One model serves every user, so questions wait their turn in order; when too many are waiting the
    answer is `429` with a `Retry-After` header. A client that disconnects stops its generation.

    With `stream: true` the answer comes as `text/event-stream`, in order: `token` events
    (`{"text"}`, pieces of the answer), one `sources` event (`{"sources": [...]}` with `cited` flags),
    then `done` (the whole answer object, as in the JSON reply; its `answer` is authoritative). A
    failure ends the stream with an `error` event (`{"detail", "type", "request_id"}`).
    """
    history = list(body.history)
    if body.session_id:
        history = services.sessions.history(caller, kb.name, body.session_id) or history
    check_conversation(body.question, history, settings.server)
    ticket = services.queue.reserve()
    make_events = _events_factory(kb, body, history)
    if body.stream:
        request_id = getattr(request.state, "request_id", "")
        remember = partial(_remember, services.sessions, caller, kb.name, body, history)
        content = _sse_answer(ticket, make_events, body, kb.name, remember, request_id)
        return EventStream(content, ticket=ticket)
    answer = await answer_unless_disconnected(request, ticket, make_events)
    _remember(services.sessions, caller, kb.name, body, history, answer)
    return AskResponse(**answer.model_dump(), session_id=body.session_id)


def _events_factory(
    kb: KnowledgeBase, body: AskRequest, history: list[tuple[str, str]]
) -> Callable[[], Iterator[AnswerEvent]]:
    def make() -> Iterator[AnswerEvent]:
        return kb.ask_events(
            body.question, history=history, options=body.options(), answer_threshold=body.answer_threshold
        )

    return make


def _remember(
    sessions: SessionStore,
    caller: str,
    kb: str,
    body: AskRequest,
    history: list[tuple[str, str]],
    answer: Answer,
) -> None:
    if body.session_id:
        sessions.append(caller, kb, body.session_id, body.question, answer.answer, earlier=history)


async def _sse_answer(
    ticket: Ticket,
    make_events: Callable[[], Iterator[AnswerEvent]],
    body: AskRequest,
    kb: str,
    remember: Callable[[Answer], None],
    request_id: str,
) -> AsyncGenerator[bytes, None]:
    try:
        async with aclosing(answer_events(ticket, make_events)) as events:
            async for event in events:
                if isinstance(event, TokenEvent):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Answer):
                    remember(event)
                    yield sse("sources", {"sources": [source.model_dump() for source in event.sources]})
                    done = AskResponse(**event.model_dump(), session_id=body.session_id)
                    yield sse("done", done.model_dump(mode="json"))
    except Exception as e:  # the stream is the boundary: headers are sent, so report in-band
        logger.exception("answer stream failed request_id=%s kb=%s", request_id, kb)
        yield sse(
            "error", ErrorBody(detail=_describe(e), type=type(e).__name__, request_id=request_id).model_dump()
        )


def _describe(error: Exception) -> str:
    if isinstance(error, KBError):
        return str(error)
    return "the answer failed inside the server; quote the request id when reporting it"
