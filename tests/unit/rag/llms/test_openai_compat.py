"""openai_chat_model configuration (the real server round trip is in tests/integration/test_llm_server.py)."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from kbtypes.errors import ConfigError
from rag.llms import openai_chat_model


def test_returns_a_configured_chat_openai() -> None:
    model = openai_chat_model(
        base_url="http://127.0.0.1:8080/v1",
        model="qwen",
        api_key=SecretStr("sk-test"),
        max_tokens=64,
        temperature=0.2,
    )

    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://127.0.0.1:8080/v1"
    assert model.model_name == "qwen"
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == "sk-test"
    assert model.temperature == 0.2
    assert model.stream_usage is True
    # Sent as the classic max_tokens field that compatible servers understand.
    assert model.extra_body == {"max_tokens": 64}


def test_empty_key_gets_a_placeholder() -> None:
    model = openai_chat_model(base_url="http://localhost:8000/v1", model="m", api_key="")

    assert isinstance(model, ChatOpenAI)
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value()
    assert model.extra_body is None


@pytest.mark.parametrize(
    ("base_url", "model"), [("localhost:8000/v1", "m"), ("http://localhost:8000/v1", " ")]
)
def test_invalid_arguments_raise(base_url: str, model: str) -> None:
    with pytest.raises(ConfigError):
        openai_chat_model(base_url=base_url, model=model)
