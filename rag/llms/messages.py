"""Turn LangChain messages into the role/content dicts that chat templates expect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage

from kbtypes.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from langchain_core.messages import BaseMessage

__all__ = ["to_chat_dicts"]


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Convert a conversation to ``[{"role": ..., "content": ...}, ...]`` for a chat template.

    System, human and AI messages map to ``system``, ``user`` and ``assistant``; a ``ChatMessage``
    keeps its own role. Content given as a list of blocks is joined from its text blocks.

    Args:
        messages: The conversation, oldest first; history is simply earlier messages.

    Returns:
        One dict per message with string ``role`` and ``content``.

    Raises:
        ConfigError: A message kind the local models cannot take (tool calls, tool results) or a
            non-text content block (images, audio).
    """
    converted: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            if message.tool_calls:
                raise ConfigError("local chat models do not support tool calls; drop the tool-call history")
            role = "assistant"
        elif isinstance(message, ChatMessage):
            role = message.role
        else:
            raise ConfigError(
                f"local chat models take system, human, AI and chat messages, not {message.type!r} messages"
            )
        converted.append({"role": role, "content": _text_of(message)})
    return converted


def _text_of(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    texts: list[str] = []
    for block in message.content:
        if isinstance(block, str):
            texts.append(block)
        elif block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        else:
            raise ConfigError(f"local chat models take text only, got a {block.get('type')!r} content block")
    return "".join(texts)
