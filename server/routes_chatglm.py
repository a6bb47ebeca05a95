"""ChatGLM-6B ``api.py`` compatibility: ``POST /`` with ``{prompt, history}`` answers from the default knowledge base."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kb import AnswerEvent
from server.deps import ServicesDep, SettingsDep
from server.request_body import RequestBody, check_conversation
from server.schemas import ErrorBody, answering_responses
from server.streaming import answer_unless_disconnected

__all__ = ["DEFAULT_KB", "ChatGLMRequest", "ChatGLMResponse", "router"]

router = APIRouter(tags=["ChatGLM-6B compatible"])

DEFAULT_KB = "default"
"""The knowledge base ``POST /`` answers from (the one ``kb ingest`` fills without ``--kb``)."""


class ChatGLMRequest(RequestBody):
    """The body ChatGLM-6B's ``api.py`` accepts; sampling fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=4000, description="The question.")
    history: list[tuple[str, str]] | None = Field(
        default=None, max_length=50, description="Earlier [question, answer] pairs, oldest first."
    )
    max_length: int | None = Field(default=None, description="Ignored: the server's max_tokens applies.")
    top_p: float | None = Field(default=None, description="Ignored: the server's settings apply.")
    temperature: float | None = Field(default=None, description="Ignored: the server's settings apply.")


class ChatGLMResponse(BaseModel):
    """ChatGLM-6B's reply shape."""

    response: str = Field(description="The answer, with [n] citation markers.")
    history: list[tuple[str, str]] = Field(description="The history including this turn.")
    status: int = Field(default=200, description="Always 200 (errors use HTTP status codes).")
    time: str = Field(description="Local time of the answer, YYYY-MM-DD HH:MM:SS.")


@router.post(
    "/",
    responses={
        404: {"model": ErrorBody, "description": "The default knowledge base does not exist."},
        **answering_responses(ErrorBody),
    },
)
async def chatglm_chat(
    body: ChatGLMRequest, request: Request, services: ServicesDep, settings: SettingsDep
) -> ChatGLMResponse:
    """Answer like ChatGLM-6B's `api.py`, from the `default` knowledge base.

    Drop-in for clients written against `python api.py` of ChatGLM-6B: send `{"prompt", "history"}`
    and get `{"response", "history", "status", "time"}`. The answer comes from the `default`
    knowledge base and cites it with `[n]` markers; use `POST /kbs/{kb}/ask` for sources and options.
    """
    kb = await run_in_threadpool(services.workspace.open, DEFAULT_KB)
    history = list(body.history or [])
    check_conversation(body.prompt, history, settings.server)
    ticket = services.queue.reserve()

    def make_events() -> Iterator[AnswerEvent]:
        return kb.ask_events(body.prompt, history=history)

    answer = await answer_unless_disconnected(request, ticket, make_events)
    return ChatGLMResponse(
        response=answer.answer,
        history=[*history, (body.prompt, answer.answer)],
        time=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
