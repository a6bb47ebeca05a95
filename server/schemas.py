"""Request and response bodies of the HTTP API (kb's own routes; OpenAI and ChatGLM shapes live with their routes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from kb import Answer, DocumentInfo, KnowledgeBaseInfo, RetrievalOptions, SearchHit
from kb.conversations import Conversation, Rating, Turn
from kbtypes.results import DocumentText
from server.request_body import RequestBody

__all__ = [
    "AskRequest",
    "AskResponse",
    "ConversationList",
    "ConversationTurns",
    "CreateKnowledgeBase",
    "DocumentInfo",
    "DocumentText",
    "ErrorBody",
    "FeedbackRequest",
    "FileFailureBody",
    "Health",
    "IngestJob",
    "IngestSummary",
    "KnowledgeBaseInfo",
    "KnowledgeBaseList",
    "DocumentList",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "TextDocument",
    "TitleRequest",
]

RetrievalModeName = Literal["dense", "bm25", "hybrid"]
HistoryTurn = tuple[str, str]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of kb's own routes."""

    detail: str = Field(description="What went wrong and, where possible, what to do about it.")
    type: str = Field(default="", description="Error class, e.g. KnowledgeBaseNotFound or QueueFull.")
    request_id: str = Field(default="", description="Id of the request; quote it when reporting a problem.")


class Health(BaseModel):
    """Liveness and a few facts about the server."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="kb server version.")
    model_loaded: bool = Field(
        description="Whether the chat model is loaded (it loads on the first question)."
    )
    knowledge_bases: int = Field(description="Number of knowledge bases.")
    busy: bool = Field(description="Whether the model is answering someone right now.")
    queue_waiting: int = Field(description="Questions waiting for the model right now.")


class CreateKnowledgeBase(RequestBody):
    """A knowledge base to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=63,
        description="1-63 letters, digits, '-' or '_', starting with a letter or digit.",
        examples=["default"],
    )
    description: str = Field(default="", max_length=2000, description="Free text shown in listings.")


class KnowledgeBaseList(BaseModel):
    """Every knowledge base on the server."""

    knowledge_bases: list[KnowledgeBaseInfo]


class DocumentList(BaseModel):
    """Every document of a knowledge base, indexed or failed."""

    documents: list[DocumentInfo]


class TextDocument(RequestBody):
    """Raw text to index as one document (the JSON alternative to a file upload)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The document's text (UTF-8).")
    source: str = Field(
        default="",
        max_length=200,
        description="File name to store it under, ending in .txt or .md; empty = a name derived from the text.",
        examples=["notes.md"],
    )


class FileFailureBody(BaseModel):
    """A file that could not be indexed."""

    source: str
    reason: str


class IngestSummary(BaseModel):
    """What an upload changed in the index."""

    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    failed: list[FileFailureBody] = Field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0


class IngestJob(BaseModel):
    """An upload being (or having been) indexed in the background."""

    id: str = Field(description="Job id; poll GET /kbs/{kb}/jobs/{id}.")
    kb: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[str] = Field(description="Stored file names, as they appear as document sources.")
    files_total: int = Field(default=0, description="Files the ingest looks at (known once it starts).")
    files_done: int = 0
    bytes_total: int = Field(default=0, description="Bytes on disk of the files the ingest looks at.")
    bytes_done: int = Field(default=0, description="Bytes of the files finished so far (for a progress bar).")
    chunks: int = Field(default=0, description="Chunks written so far.")
    error: str = Field(default="", description="Why the job failed (status=failed).")
    result: IngestSummary | None = Field(default=None, description="Outcome, once status=done.")
    created: float = Field(description="Unix time the job was accepted.")
    finished: float | None = None


class SearchRequest(RequestBody):
    """A retrieval query."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000, description="What to look for.")
    k: int | None = Field(default=None, ge=1, le=50, description="Passages to return; default from settings.")
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Minimum relevance 0..1.")
    mode: RetrievalModeName | None = Field(
        default=None, description="dense, bm25 or hybrid; default from settings."
    )
    source_glob: str | None = Field(
        default=None, max_length=500, description="Only sources matching this glob."
    )
    file_types: list[str] | None = Field(
        default=None, max_length=20, description="Only these suffixes, e.g. ['pdf']."
    )

    def options(self) -> RetrievalOptions:
        """The request's retrieval options."""
        return RetrievalOptions(
            k=self.k,
            mode=self.mode,
            score_threshold=self.score_threshold,
            source_glob=self.source_glob,
            file_types=tuple(self.file_types) if self.file_types else None,
        )


class SearchResponse(BaseModel):
    """Passages, best first."""

    hits: list[SearchHit]


class AskRequest(RequestBody):
    """A question for a knowledge base."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1,
        max_length=100_000,
        description="The question; the server's max_question_chars (default 4000) applies (413 beyond).",
        examples=["ChatGLM-6B 需要多少显存？"],
    )
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=1000,
        description=(
            "Earlier [question, answer] pairs, oldest first; ignored when session_id has history. "
            "max_history_turns and max_history_chars apply (413 beyond)."
        ),
    )
    k: int | None = Field(
        default=None, ge=1, le=50, description="Passages to retrieve; default from settings."
    )
    answer_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("answer_threshold", "score_threshold"),
        description=(
            "Relevance 0..1 the best passage needs, else the answer is a refusal and the model is not called; "
            "default from settings. `score_threshold` is accepted as its older name."
        ),
    )
    mode: RetrievalModeName | None = Field(
        default=None, description="dense, bm25 or hybrid; default from settings."
    )
    source_glob: str | None = Field(
        default=None, max_length=500, description="Only sources matching this glob."
    )
    file_types: list[str] | None = Field(default=None, max_length=20, description="Only these suffixes.")
    stream: bool = Field(
        default=False, description="Answer as a text/event-stream (see the route description)."
    )
    session_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Keep the conversation on the server under this id: its history replaces `history`.",
    )

    def options(self) -> RetrievalOptions:
        """The request's retrieval options (``answer_threshold`` is passed on its own: it decides refusal)."""
        return RetrievalOptions(
            k=self.k,
            mode=self.mode,
            source_glob=self.source_glob,
            file_types=tuple(self.file_types) if self.file_types else None,
        )


class AskResponse(Answer):
    """An answer with the passages it cites."""

    session_id: str | None = Field(default=None, description="The session the turn was stored in, if any.")
    turn: int | None = Field(
        default=None, description="The turn's number in that session (to rate it), if it was stored."
    )


class TitleRequest(BaseModel):
    """A conversation's title."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=200, description="Shown in the conversation list.")


class FeedbackRequest(BaseModel):
    """A user's verdict on one answer."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating | None = Field(description="up, down, or null to clear the rating.")
    comment: str = Field(
        default="", max_length=2000, description="What was wrong or right, in the user's words."
    )


class ConversationList(BaseModel):
    """The caller's conversations with one knowledge base."""

    conversations: list[Conversation]


class ConversationTurns(BaseModel):
    """One conversation with every turn."""

    id: str
    kb: str
    turns: list[Turn]


def answering_responses(body: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI error entries every answering route shares, with ``body`` as the error's shape."""
    return {
        413: {"model": body, "description": "The question or history is over a server limit (named)."},
        429: {"model": body, "description": "Too many questions waiting for the model; see Retry-After."},
        503: {"model": body, "description": "The chat model cannot be loaded or reached."},
    }
