"""Conversation history: normalising it and turning a follow-up question into a standalone query."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.language import Language, detect_language, han_count

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig

__all__ = ["QAInput", "is_follow_up", "parse_input", "rewrite_with_model", "standalone_query"]

QAInput = str | Mapping[str, Any]
"""A question, or ``{"question": str, "history": [(user, assistant), ...] or [BaseMessage, ...]}``."""

_REWRITE_MAX_TOKENS = 40
_REWRITE_PROMPT = (
    "Rewrite the last question so that it can be understood without the conversation. "
    "Reply with the rewritten question only, in the same language."
)
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
        cjk = han_count(question)
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


def rewrite_with_model(
    llm: BaseChatModel,
    question: str,
    history: Sequence[tuple[str, str]],
    config: RunnableConfig | None = None,
) -> str:
    """The retrieval query for a follow-up, as the chat model rewrites it (a second, short model call).

    Falls back to the ``concat`` rewrite when the model returns nothing.
    """
    transcript = "\n".join(f"User: {user}\nAssistant: {reply[:200]}" for user, reply in history[-2:])
    messages = [
        SystemMessage(_REWRITE_PROMPT),
        HumanMessage(f"{transcript}\nUser: {question}\nRewritten:"),
    ]
    reply = llm.invoke(messages, config=config, max_tokens=_REWRITE_MAX_TOKENS, stop=["\n"])
    rewritten = reply.text.strip().strip("\"'“”")
    return rewritten or standalone_query(question, history)
