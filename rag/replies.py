"""One streamed model reply: tokens shown as they come, once the opening is clearly an answer, then judged.

Small models sometimes open with the source labels or file names instead of an answer; those openings are
held back, so a reply that is degenerate from its first words never reaches the user and the stricter
retry can stream in its place. A reply that starts looping is cut at the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kbtypes.answer import TokenEvent
from rag.citations import MarkerFilter, drop_loop, is_looping, is_refusal, resolve_citations
from rag.grounding import content_left, degeneracy
from rag.prompt import TokenCounter

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

__all__ = ["Reply", "stream_reply"]

logger = logging.getLogger(__name__)

_LOOP_WINDOW = 200  # streamed pieces looked at for a loop (a piece is usually one token)
_OPENING_CHARS = 6  # content characters (not labels, names or markers) that show a reply is an answer


@dataclass(frozen=True)
class Reply:
    """One model reply, and what the checks made of it."""

    text: str
    shown: bool
    """Whether any of it was streamed to the caller."""
    degenerate: str | None
    """Why the reply is no answer (``rag.grounding.degeneracy``); None for an answer or a refusal."""


def stream_reply(
    llm: BaseChatModel,
    messages: list[BaseMessage],
    names: Sequence[str],
    passages: Sequence[str],
    question: str,
    usage: dict[str, int],
    timings: dict[str, float],
    started: float,
    config: RunnableConfig | None,
    *,
    count_tokens: TokenCounter,
    emit: bool = True,
) -> Generator[TokenEvent, None, Reply]:
    """Stream one model reply as ``TokenEvent``s; the opening is held back until it is clearly no label list.

    ``usage`` and ``timings`` are filled in as the reply streams (token counts, time to first token).

    A reply that is degenerate from its first words (source labels, file names, markers) is thus never
    shown, and the stricter retry can stream in its place.
    """
    pieces: list[str] = []
    markers = MarkerFilter(len(names))
    held: list[str] = []
    shown = False
    stream = llm.stream(messages, config=config)
    try:
        for chunk in stream:
            if chunk.usage_metadata:
                usage["prompt_tokens"] += chunk.usage_metadata.get("input_tokens", 0)
                usage["completion_tokens"] += chunk.usage_metadata.get("output_tokens", 0)
                details = chunk.usage_metadata.get("input_token_details") or {}
                if "cache_read" in details:
                    usage["cached_prompt_tokens"] = (
                        usage.get("cached_prompt_tokens", 0) + details["cache_read"]
                    )
            if not chunk.text:
                continue
            pieces.append(chunk.text)
            if is_looping("".join(pieces[-_LOOP_WINDOW:])):
                logger.info("stopped generation reason=repetition")
                pieces = [drop_loop("".join(pieces))]
                break
            if not emit:
                continue
            if visible := markers.feed(chunk.text):
                held.append(visible)
            if not shown and _opening_is_content("".join(held), names):
                shown = True
            if shown and held:
                timings.setdefault("first_token_s", time.perf_counter() - started)
                yield TokenEvent(text="".join(held))
                held = []
    finally:
        # Reached on GeneratorExit too: closing the model's stream stops its generation.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    text = "".join(pieces)
    final = resolve_citations(text, len(names))[0].strip()
    degenerate = None if is_refusal(final) else degeneracy(final, passages, names, question)
    if degenerate:
        logger.debug("degenerate reply reason=%s text=%r", degenerate, final[:200])
    if emit and not shown and not degenerate:
        shown = True
    if emit and shown:
        rest = "".join(held) + markers.flush()
        if rest:
            timings.setdefault("first_token_s", time.perf_counter() - started)
            yield TokenEvent(text=rest)
    if not usage["completion_tokens"] and text:
        usage["completion_tokens"] = count_tokens(text)
    return Reply(text=text, shown=shown, degenerate=degenerate)


def _opening_is_content(text: str, names: Sequence[str]) -> bool:
    return len(content_left(text, names)) >= _OPENING_CHARS
