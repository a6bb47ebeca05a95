"""openai_chat_model against a real OpenAI-compatible server: llama-cpp-python's, on the default GGUF."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.language_models.chat_models import BaseChatModel

from rag.llms import ensure_default_model, openai_chat_model

pytestmark = pytest.mark.slow

MODEL_ALIAS = "kb-default"
STARTUP_TIMEOUT_S = 180.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free local port and wait until it answers."""
    model = ensure_default_model(tmp_path_factory.mktemp("models"))
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llm-server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
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
                str(port),
                "--n_ctx",
                "1024",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {process.returncode} "
                    f"(needs llama-cpp-python[server]):\n{log_path.read_text(errors='replace')[-3000:]}"
                )
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after {STARTUP_TIMEOUT_S}s")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
