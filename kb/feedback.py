"""Ratings from the web page as evaluation cases: what users mark becomes a ``kb eval`` question file.

An answer rated up becomes a ready case: the files it cited are the expected sources, the quoted sentence is
the key the passage must hold, and the figures the answer took from that sentence are the facts the answer
must state. An answer rated down becomes a case to finish by hand (its facts are unknown: the user's comment
is kept as the case's note); one that showed no source at all cannot say where the answer lives and is only
listed for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kb.conversations import Turn
from kb.eval_cases import EvalCase

__all__ = ["FeedbackExport", "cases_from_ratings"]

_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"\[\d+\]")


@dataclass
class FeedbackExport:
    """The cases made from ratings, and the down-rated questions that could not become one."""

    ready: list[EvalCase] = field(default_factory=list)
    to_finish: list[EvalCase] = field(default_factory=list)
    to_review: list[str] = field(default_factory=list)


def cases_from_ratings(rated: Iterable[tuple[str, Turn]]) -> FeedbackExport:
    """Turn rated turns (``ConversationStore.rated``) into evaluation cases, one per distinct question."""
    export = FeedbackExport()
    seen: set[str] = set()
    for number, (kb, turn) in enumerate(rated, start=1):
        question = " ".join(turn.question.split())
        if question in seen:
            continue
        seen.add(question)
        cited = [source for source in turn.sources if source.cited] or list(turn.sources)
        sources = list(dict.fromkeys(source.source for source in cited))
        if turn.rating == "up" and sources and not turn.refused:
            quote = next((source.quote for source in cited if source.quote), None)
            answer = _MARKER.sub(" ", turn.answer)
            figures = list(dict.fromkeys(f for f in _FIGURE.findall(answer) if quote and f in quote))
            export.ready.append(
                EvalCase(
                    q=question,
                    sources=sources,
                    keys=[quote] if quote else [],
                    answer=figures,
                    id=f"feedback-{kb}-{number}",
                    group="feedback-up",
                )
            )
        elif turn.rating == "down" and sources:
            export.to_finish.append(
                EvalCase(
                    q=question,
                    sources=sources,
                    id=f"feedback-{kb}-{number}",
                    group="feedback-down",
                    note=turn.comment,
                )
            )
        elif turn.rating == "down":
            export.to_review.append(question)
    return export
