"""openai_chat_model against a real OpenAI-compatible server: llama-cpp-python's, on the default GGUF."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from langchain_core.language_models.chat_models import BaseChatModel

from rag.llms import ensure_default_model, openai_chat_model
from tests.servers import run_local_server

pytestmark = pytest.mark.slow

MODEL_ALIAS = "kb-default"
STARTUP_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` (needs llama-cpp-python[server]) on the default GGUF, on loopback."""
    model = ensure_default_model(tmp_path_factory.mktemp("models"))
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--n_ctx",
        "1024",
    ]
    log_path = tmp_path_factory.mktemp("llm-server") / "server.log"
    with run_local_server(argv, "/v1/models", log_path=log_path, startup_timeout_s=STARTUP_TIMEOUT_S) as base:
        yield f"{base}/v1"


@pytest.fixture
def chat(server_url: str) -> BaseChatModel:
    return openai_chat_model(
        base_url=server_url, model=MODEL_ALIAS, api_key="", max_tokens=12, temperature=0.0
    )


def test_invoke_answers_with_usage(chat: BaseChatModel) -> None:
    result = chat.invoke("What is the capital of France? Reply with one word.")

    assert "Paris" in str(result.content)
    assert result.usage_metadata is not None
    assert result.usage_metadata["input_tokens"] > 0
    assert result.usage_metadata["output_tokens"] > 0


def test_stream_yields_several_chunks(chat: BaseChatModel) -> None:
    chunks = list(chat.stream("Say hello to the user in a short sentence."))

    assert len([chunk for chunk in chunks if chunk.content]) > 1
    assert "".join(str(chunk.content) for chunk in chunks).strip()


def test_max_tokens_reaches_the_server(chat: BaseChatModel) -> None:
    result = chat.invoke("Write a long story about a dragon.")

    assert result.usage_metadata is not None
    assert result.usage_metadata["output_tokens"] == 12
    assert result.response_metadata["finish_reason"] == "length"
