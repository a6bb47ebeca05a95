"""Ask a knowledge base: a cited answer as JSON, or streamed as server-sent events."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from functools import partial

from fastapi import APIRouter, Request, Response

from kb import Answer, AnswerEvent, KBError, KnowledgeBase, SourcesEvent, TokenEvent
from kb.conversations import ConversationStore
from server.deps import CallerDep, KnowledgeBaseDep, ServicesDep, SettingsDep
from server.generation import Ticket
from server.request_body import check_conversation
from server.schemas import AskRequest, AskResponse, ErrorBody, answering_responses
from server.streaming import EventStream, answer_events, answer_unless_disconnected, sse

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ask"])

_SSE_DOC = (
    'Server-sent events, in order: `sources` (`{"sources": [...]}`, the passages the model is shown, '
    'before it writes), `token` (`{"text"}`, a piece of the answer, repeated), then `done` (the full '
    "answer object, as in the JSON reply, with `cited` flags and quotes). On failure an `error` event "
    '(`{"detail", "type", "request_id"}`) ends the stream instead.'
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
    `session_id` and the server keeps the conversation for you, across restarts (its stored history then
    replaces `history`; the reply's `turn` numbers the stored turn, to rate it).

    One model serves every user, so questions wait their turn in order; when too many are waiting the
    answer is `429` with a `Retry-After` header. A client that disconnects stops its generation.

    With `stream: true` the answer comes as `text/event-stream`, in order: one `sources` event
    (`{"sources": [...]}`, the passages the model is shown, before the first token), `token` events
    (`{"text"}`, pieces of the answer), then `done` (the whole answer object, as in the JSON reply, with
    `cited` flags and quotes; its `answer` is authoritative: a checked answer may replace the streamed
    text). A failure ends the stream with an `error` event (`{"detail", "type", "request_id"}`).
    """
    history = list(body.history)
    if body.session_id:
        history = services.conversations.history(caller, kb.name, body.session_id) or history
    check_conversation(body.question, history, settings.server)
    ticket = services.queue.reserve()
    make_events = _events_factory(kb, body, history)
    if body.stream:
        request_id = getattr(request.state, "request_id", "")
        remember = partial(_remember, services.conversations, caller, kb.name, body, history)
        content = _sse_answer(ticket, make_events, body, kb.name, remember, request_id)
        return EventStream(content, ticket=ticket)
    answer = await answer_unless_disconnected(request, ticket, make_events)
    turn = _remember(services.conversations, caller, kb.name, body, history, answer)
    return AskResponse(**answer.model_dump(), session_id=body.session_id, turn=turn)


def _events_factory(
    kb: KnowledgeBase, body: AskRequest, history: list[tuple[str, str]]
) -> Callable[[], Iterator[AnswerEvent]]:
    def make() -> Iterator[AnswerEvent]:
        return kb.ask_events(
            body.question, history=history, options=body.options(), answer_threshold=body.answer_threshold
        )

    return make


def _remember(
    conversations: ConversationStore,
    caller: str,
    kb: str,
    body: AskRequest,
    history: list[tuple[str, str]],
    answer: Answer,
) -> int | None:
    if not body.session_id:
        return None
    return conversations.append(caller, kb, body.session_id, body.question, answer, earlier=history)


async def _sse_answer(
    ticket: Ticket,
    make_events: Callable[[], Iterator[AnswerEvent]],
    body: AskRequest,
    kb: str,
    remember: Callable[[Answer], int | None],
    request_id: str,
) -> AsyncGenerator[bytes, None]:
    try:
        async with aclosing(answer_events(ticket, make_events)) as events:
            async for event in events:
                if isinstance(event, SourcesEvent):
                    yield sse("sources", {"sources": [source.model_dump() for source in event.sources]})
                elif isinstance(event, TokenEvent):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Answer):
                    turn = remember(event)
                    done = AskResponse(**event.model_dump(), session_id=body.session_id, turn=turn)
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
