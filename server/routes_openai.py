"""OpenAI-compatible API: each knowledge base is a model (`kb:<name>`) any OpenAI client can chat with."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing

from fastapi import APIRouter, HTTPException, Request, Response, status
from starlette.concurrency import run_in_threadpool

from kb import Answer, AnswerEvent, KBError, KnowledgeBase, TokenEvent, validate_kb_name
from server.deps import ServicesDep, SettingsDep
from server.generation import Ticket
from server.openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    ModelCard,
    ModelList,
    OpenAIErrorBody,
    Usage,
)
from server.request_body import check_conversation
from server.schemas import answering_responses
from server.streaming import EventStream, answer_events, answer_unless_disconnected, sse

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

MODEL_PREFIX = "kb:"


@router.get("/models")
def list_models(services: ServicesDep) -> ModelList:
    """List one model per knowledge base, named `kb:<name>`."""
    return ModelList(data=[ModelCard(id=MODEL_PREFIX + name) for name in services.workspace.names()])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "With `stream: true`: `data:` chunks, the last with `sources`, then `data: [DONE]`.",
        },
        400: {"model": OpenAIErrorBody, "description": "The last message is not a user question."},
        404: {"model": OpenAIErrorBody, "description": "No knowledge base for that model."},
        **answering_responses(OpenAIErrorBody),
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, services: ServicesDep, settings: SettingsDep
) -> ChatCompletion | Response:
    """Answer the last user message from the knowledge base named by `model`, OpenAI-style.

    The last message must come from the user: it is the question. Earlier user/assistant messages are
    the conversation history; system messages are ignored (kb writes its own instructions). Sampling
    parameters are accepted but the server's settings apply.

    Besides the standard fields, the reply carries `sources` (the passages shown to the model, numbered
    like the answer's `[n]` markers, with `cited` flags) and `refused`. When streaming, they come on
    the final chunk, the one with `finish_reason: "stop"`.
    """
    kb = await run_in_threadpool(services.workspace.open, _kb_name(body.model))
    question, history = _conversation(body.messages)
    check_conversation(question, history, settings.server)
    ticket = services.queue.reserve()
    make_events = _events_factory(kb, question, history)
    completion_id = "chatcmpl-" + (getattr(request.state, "request_id", "") or "kb")
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        request_id = getattr(request.state, "request_id", "")
        chunks = _chunks(ticket, make_events, completion_id, created, body.model, include_usage, request_id)
        return EventStream(chunks, ticket=ticket)
    answer = await answer_unless_disconnected(request, ticket, make_events)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=answer.answer))],
        usage=_usage(answer),
        sources=answer.sources,
        refused=answer.refused,
    )


def _kb_name(model: str) -> str:
    name = model.removeprefix(MODEL_PREFIX)
    try:
        return validate_kb_name(name)
    except KBError as e:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no model {model!r}: use one of GET /v1/models"
        ) from e


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The question (last user message) and the (question, answer) pairs before it."""
    last = messages[-1]
    question = last.text().strip()
    if last.role != "user" or not question:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the last message must be a non-empty user message")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages[:-1]:
        if message.role == "user":
            pending = message.text()
        elif message.role == "assistant" and pending is not None:
            history.append((pending, message.text()))
            pending = None
    return question, history


def _events_factory(
    kb: KnowledgeBase, question: str, history: list[tuple[str, str]]
) -> Callable[[], Iterator[AnswerEvent]]:
    def make() -> Iterator[AnswerEvent]:
        return kb.ask_events(question, history=history)

    return make


def _usage(answer: Answer) -> Usage:
    prompt = answer.usage.get("prompt_tokens", 0)
    completion = answer.usage.get("completion_tokens", 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


async def _chunks(
    ticket: Ticket,
    make_events: Callable[[], Iterator[AnswerEvent]],
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    request_id: str,
) -> AsyncGenerator[bytes, None]:
    def chunk(delta: Delta) -> bytes:
        body = ChatCompletionChunk(
            id=completion_id, created=created, model=model, choices=[ChunkChoice(delta=delta)]
        )
        return sse(None, body.model_dump_json(exclude_none=True))

    try:
        yield chunk(Delta(role="assistant", content=""))
        async with aclosing(answer_events(ticket, make_events)) as events:
            async for event in events:
                if isinstance(event, TokenEvent):
                    yield chunk(Delta(content=event.text))
                elif isinstance(event, Answer):
                    final = ChatCompletionChunk(
                        id=completion_id,
                        created=created,
                        model=model,
                        choices=[ChunkChoice(delta=Delta(), finish_reason="stop")],
                        sources=event.sources,
                        refused=event.refused,
                    )
                    yield sse(None, final.model_dump_json(exclude_none=True))
                    if include_usage:
                        usage = ChatCompletionChunk(
                            id=completion_id, created=created, model=model, choices=[], usage=_usage(event)
                        )
                        yield sse(None, usage.model_dump_json(exclude_none=True))
        yield sse(None, "[DONE]")
    except Exception as e:  # headers are sent: report in-band, the way OpenAI streams do
        logger.exception("chat completion stream failed request_id=%s", request_id)
        message = str(e) if isinstance(e, KBError) else "the answer failed inside the server"
        error = {"message": message, "type": type(e).__name__, "request_id": request_id}
        yield sse(None, {"error": error})
