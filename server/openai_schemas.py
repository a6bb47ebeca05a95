"""Bodies of the OpenAI-compatible routes: the subset of the Chat Completions API that kb serves."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kb import Source
from server.request_body import RequestBody

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "ContentPart",
    "Delta",
    "ModelCard",
    "ModelList",
    "OpenAIError",
    "OpenAIErrorBody",
    "StreamOptions",
    "Usage",
]


class ContentPart(RequestBody):
    """A part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=50)
    text: str | None = Field(default=None, max_length=20000)


class ChatMessage(RequestBody):
    """One chat message."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(default=None)

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(RequestBody):
    """Streaming options."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(RequestBody):
    """A chat completion request; sampling fields are accepted and ignored (the server's settings apply)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        min_length=1, max_length=100, description="`kb:<name>` (see GET /v1/models) or just `<name>`."
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    user: str | None = None


class OpenAIError(BaseModel):
    """What went wrong, in OpenAI's error shape."""

    message: str
    type: str
    code: int
    request_id: str = ""


class OpenAIErrorBody(BaseModel):
    """Every 4xx/5xx answer under /v1 (validation errors aside, which keep FastAPI's 422 shape)."""

    error: OpenAIError


class Usage(BaseModel):
    """Token counts."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class AssistantMessage(BaseModel):
    """The answer message."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class ChatCompletion(BaseModel):
    """A complete answer, with kb's extra `sources` and `refused` fields."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[Source] = Field(
        default_factory=list, description="Passages shown to the model; see `cited`."
    )
    refused: bool = Field(default=False, description="True when the knowledge base had nothing relevant.")


class Delta(BaseModel):
    """What a stream chunk adds to the message."""

    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    """The one choice of a stream chunk."""

    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One `data:` line of a streamed answer; the last one (with `finish_reason`) carries `sources`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    sources: list[Source] | None = None
    refused: bool | None = None


class ModelCard(BaseModel):
    """One model: a knowledge base answered by the server's chat model."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "kb"


class ModelList(BaseModel):
    """Every model the server offers."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
