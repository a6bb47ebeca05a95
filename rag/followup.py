"""Conversation history: normalising it and turning a follow-up question into a standalone query."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.prompt import Language, detect_language

__all__ = ["QAInput", "is_follow_up", "parse_input", "standalone_query"]

QAInput = str | Mapping[str, Any]
"""A question, or ``{"question": str, "history": [(user, assistant), ...] or [BaseMessage, ...]}``."""

_ANAPHORA_ZH = ("它", "这个", "那个", "那", "其", "这些", "那些", "上述", "该", "他们", "它们", "呢")
_ANAPHORA_EN = frozenset(
    {"it", "its", "this", "that", "they", "them", "those", "these", "there", "he", "she"}
)
_SHORT_ZH_CHARS = 10
_SHORT_EN_WORDS = 6


def parse_input(value: QAInput) -> tuple[str, list[tuple[str, str]]]:
    """Split a chain input into the question and (user, assistant) history pairs.

    Raises:
        TypeError: the mapping has no ``question`` string, or history holds tool messages.
    """
    if isinstance(value, str):
        return value, []
    question = value.get("question")
    if not isinstance(question, str):
        raise TypeError("QAChain input needs a 'question' string")
    return question, _history_pairs(value.get("history") or ())


def _history_pairs(history: Sequence[Any]) -> list[tuple[str, str]]:
    """(user, assistant) pairs from pairs or from a message list (system messages are ignored)."""
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for item in history:
        if isinstance(item, BaseMessage):
            if isinstance(item, HumanMessage):
                if pending is not None:
                    pairs.append((pending, ""))
                pending = item.text
            elif isinstance(item, AIMessage):
                pairs.append((pending or "", item.text))
                pending = None
            elif not isinstance(item, SystemMessage):
                raise TypeError(f"history messages must be human, AI or system messages, not {item.type!r}")
        else:
            user, assistant = item
            pairs.append((str(user), str(assistant)))
    if pending is not None:
        pairs.append((pending, ""))
    return pairs


def is_follow_up(question: str, language: Language) -> bool:
    """Whether a question leans on the conversation: short, or with a pronoun such as "it"/"它"."""
    if language == "zh":
        cjk = len(re.findall(r"[\u4e00-\u9fff]", question))
        return cjk <= _SHORT_ZH_CHARS or any(word in question for word in _ANAPHORA_ZH)
    words = re.findall(r"[A-Za-z0-9']+", question.lower())
    return len(words) <= _SHORT_EN_WORDS or any(word in _ANAPHORA_EN for word in words)


def standalone_query(question: str, history: Sequence[tuple[str, str]]) -> str:
    """The retrieval query for ``question`` after ``history`` (the cheap ``concat`` rewrite).

    A follow-up (short, or with a pronoun such as "it"/"它") is prefixed with the previous user turn;
    anything else, or a first question, is used as is.
    """
    if not history:
        return question
    if not is_follow_up(question, detect_language(question)):
        return question
    return f"{history[-1][0].strip()} {question.strip()}"
