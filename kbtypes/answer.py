"""Result models of the answer chain: ``Answer``, its ``Source`` list and the streamed events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Answer", "AnswerEvent", "AnswerMode", "Source", "SourcesEvent", "TokenEvent"]

AnswerMode = Literal["generated", "retried", "extractive", "refused"]
"""How the answer text came about: the model's first reply, its stricter second try, a sentence quoted
from a source because neither reply passed the checks, or a refusal."""


class Source(BaseModel):
    """One passage put in front of the model, numbered as the prompt numbered it.

    ``cited`` is true when the answer carries the marker ``[n]``. When the model wrote no valid marker
    at all, the passages whose wording the answer demonstrably reuses are marked cited instead, so a
    caller can always tell which file an answer came from.
    """

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="Marker number: the answer cites this passage as [n].")
    source: str = Field(description="Source path of the document, relative to the ingested folder.")
    page: int | None = Field(default=None, description="Page number (PDF), if the format has pages.")
    chunk_id: str = Field(description="Stable id of the chunk in the knowledge base.")
    score: float = Field(description="Cosine similarity between the query and the passage (0..1).")
    text: str = Field(description="The full chunk text.")
    cited: bool = Field(default=False, description="Whether the answer cites or draws on this passage.")
    chunk_start: int | None = Field(
        default=None, description="Offset of the chunk in the document text kb extracted (None if unknown)."
    )
    quote: str | None = Field(
        default=None, description="The sentence(s) of ``text`` that support the answer (cited sources only)."
    )
    quote_start: int | None = Field(default=None, description="Offset of ``quote`` in ``text``.")
    quote_end: int | None = Field(default=None, description="Offset just past ``quote`` in ``text``.")
    document_quote_start: int | None = Field(
        default=None, description="Offset of ``quote`` in the document text (``chunk_start + quote_start``)."
    )
    document_quote_end: int | None = Field(
        default=None, description="Offset just past ``quote`` in the document text."
    )


class Answer(BaseModel):
    """An answer with the passages it was written from.

    JSON shape: ``{"answer", "sources": [{"n", "source", "page", "chunk_id", "score", "text", "cited"}],
    "refused", "usage", "timings", "query"}``.
    """

    answer: str = Field(description="Answer text; citation markers [n] point into ``sources``.")
    sources: list[Source] = Field(
        default_factory=list, description="Passages shown to the model, best first."
    )
    refused: bool = Field(
        default=False, description="True when no passage was relevant or the model declined."
    )
    usage: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "prompt_tokens and completion_tokens (0 when no model was called); cached_prompt_tokens: prompt "
            "tokens llama.cpp reused from its cache instead of evaluating (local GGUF models only)."
        ),
    )
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds: rewrite_s, retrieve_s, first_token_s (since the request began) and total_s.",
    )
    query: str = Field(default="", description="The standalone query used for retrieval.")
    mode: AnswerMode = Field(
        default="generated",
        description=(
            "generated: the model's reply; retried: its second, stricter try; extractive: a quoted source "
            "sentence, because the model's replies failed the checks; refused: no answer given."
        ),
    )
    grounded: bool = Field(
        default=True,
        description="False when the answer states numbers, versions or quoted names that no shown source holds.",
    )
    unsupported: list[str] = Field(
        default_factory=list, description="Claims (numbers, versions, quoted names) found in no shown source."
    )
    degenerate: str | None = Field(
        default=None,
        description="Why the model's first reply was rejected (empty, labels, repetition, echo, no_overlap), if it was.",
    )


class SourcesEvent(BaseModel):
    """First event of an answer: the passages retrieved, before any token is generated."""

    model_config = ConfigDict(frozen=True)

    sources: list[Source] = Field(description="Passages the model will see (``cited`` not known yet).")


class TokenEvent(BaseModel):
    """A piece of answer text as the model generates it."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="Generated text, in order; concatenated it is the raw answer.")


AnswerEvent = SourcesEvent | TokenEvent | Answer
"""What ``QAChain.events`` yields: one ``SourcesEvent``, then ``TokenEvent``s, then the ``Answer``."""
