"""The public names of rag.llms."""

from __future__ import annotations

import pytest

import rag.llms


def test_all_is_pinned() -> None:
    assert sorted(rag.llms.__all__) == [
        "ChatGLM",
        "ChatLlamaCpp",
        "DEFAULT_MODEL_FILENAME",
        "DEFAULT_MODEL_SHA256",
        "LLMKind",
        "LLMSpec",
        "counts_tokens_locally",
        "ensure_default_model",
        "ensure_quality_model",
        "openai_chat_model",
        "parse_llm_spec",
    ]


def test_every_exported_name_resolves() -> None:
    for name in rag.llms.__all__:
        assert getattr(rag.llms, name) is not None


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        rag.llms.NoSuchThing  # noqa: B018
