"""Remote chat models get a tokenizer-free token estimate, so answering never reaches for tiktoken's download."""

from __future__ import annotations

from rag.language import estimate_tokens
from rag.llms import counts_tokens_locally, openai_chat_model


def test_estimate_is_conservative_for_chinese_and_english() -> None:
    assert estimate_tokens("知识库问答") == 5
    assert estimate_tokens("a" * 30) == 10
    assert estimate_tokens("") == 0


def test_remote_models_use_the_estimate() -> None:
    remote = openai_chat_model(base_url="http://127.0.0.1:9/v1", model="glm-4")
    assert not counts_tokens_locally(remote)
