"""Converting LangChain messages to chat-template dicts."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from kbtypes.errors import ConfigError
from rag.llms.messages import to_chat_dicts


def test_roles_and_order_are_kept() -> None:
    messages = [
        SystemMessage("sys"),
        HumanMessage("hi"),
        AIMessage("hello"),
        ChatMessage(role="observation", content="obs"),
        HumanMessage([{"type": "text", "text": "a"}, "b"]),
    ]

    assert to_chat_dicts(messages) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "observation", "content": "obs"},
        {"role": "user", "content": "ab"},
    ]


@pytest.mark.parametrize(
    "message",
    [
        ToolMessage("42", tool_call_id="c1"),
        AIMessage("", tool_calls=[{"name": "add", "args": {}, "id": "c1"}]),
        HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]),
    ],
)
def test_unsupported_messages_raise(message: object) -> None:
    with pytest.raises(ConfigError):
        to_chat_dicts([message])  # type: ignore[list-item]
