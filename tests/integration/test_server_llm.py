"""Answers over HTTP with the real default chat model: JSON, SSE, the OpenAI client and ChatGLM's shape.

The streaming and OpenAI-client tests talk to a real uvicorn server on 127.0.0.1 (in a thread of the
test process, so it can share the session's model); the rest use the ASGI app through TestClient.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from kb import Settings, Source, Workspace
from kb.settings import LLMSettings, ServerSettings
from rag.embeddings import E5Embeddings
from server import create_app
from server.schemas import AskResponse, Health, IngestJob
from tests.integration.conftest import MAX_TOKENS

pytestmark = pytest.mark.slow

WARRANTY = "# Warranty\n\nThe Zephyr X2 drone comes with a warranty of 24 months from the date of purchase.\n"
BATTERY = "# Battery\n\nThe Zephyr X2 battery takes 90 minutes to charge fully and flies for 31 minutes.\n"
QUESTION = "How long is the warranty of the Zephyr X2 drone?"


@contextmanager
def _app(tmp_path: Path, e5: E5Embeddings, model: BaseChatModel, **server: Any) -> Iterator[FastAPI]:
    settings = Settings(
        home=tmp_path / "home",
        llm=LLMSettings(max_tokens=MAX_TOKENS, context_window=2048),
        server=ServerSettings(**server),
    )
    workspace = Workspace(settings=settings, embeddings=e5, chat_model=lambda: model)
    try:
        yield create_app(workspace=workspace, settings=settings)
    finally:
        workspace.close()


def _seed(client: TestClient | httpx.Client, kb: str = "manuals") -> None:
    assert client.post("/kbs", json={"name": kb}).status_code == 201
    files = [
        ("files", (name, text.encode(), "text/markdown"))
        for name, text in {"warranty.md": WARRANTY, "battery.md": BATTERY}.items()
    ]
    response = client.post(f"/kbs/{kb}/documents", files=files, params={"wait": "true"})
    assert response.status_code == 200, response.text
    assert IngestJob.model_validate(response.json()).status == "done"


@pytest.fixture
def client(tmp_path: Path, e5: E5Embeddings, chat_model: BaseChatModel) -> Iterator[TestClient]:
    with _app(tmp_path, e5, chat_model) as app, TestClient(app) as test_client:
        yield test_client


@contextmanager
def _serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free 127.0.0.1 port; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def base_url(tmp_path: Path, e5: E5Embeddings, chat_model: BaseChatModel) -> Iterator[str]:
    with ExitStack() as stack:
        app = stack.enter_context(_app(tmp_path, e5, chat_model))
        url = stack.enter_context(_serve(app))
        with httpx.Client(base_url=url, timeout=120) as http:
            _seed(http)
        yield url


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
        elif not line and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


def test_upload_then_ask_gives_a_cited_answer(client: TestClient) -> None:
    _seed(client)
    response = client.post("/kbs/manuals/ask", json={"question": QUESTION, "session_id": "alice"})
    assert response.status_code == 200, response.text
    answer = AskResponse.model_validate(response.json())
    assert not answer.refused
    assert "24" in answer.answer
    assert [s.source for s in answer.sources if s.cited] == ["warranty.md"]
    assert answer.session_id == "alice"
    assert Health.model_validate(client.get("/health").json()).model_loaded

    follow_up = client.post(
        "/kbs/manuals/ask", json={"question": "And how long does it fly?", "session_id": "alice"}
    )
    assert follow_up.status_code == 200
    assert follow_up.json()["turn"] == answer.turn + 1  # type: ignore[operator]
    stored = client.get("/kbs/manuals/conversations/alice").json()["turns"]
    assert [turn["question"] for turn in stored] == [QUESTION, "And how long does it fly?"]
    assert [s["source"] for s in stored[0]["sources"] if s["cited"]] == ["warranty.md"]


def test_sessions_are_kept_apart_per_api_key(
    tmp_path: Path, e5: E5Embeddings, chat_model: BaseChatModel
) -> None:
    keys = {"alice": {"Authorization": "Bearer alpha"}, "bob": {"Authorization": "Bearer beta"}}
    with _app(tmp_path, e5, chat_model, api_keys=["alpha", "beta"]) as app, TestClient(app) as client:
        assert client.post("/kbs", json={"name": "manuals"}, headers=keys["alice"]).status_code == 201
        # Unrelated questions are refused without generating, which keeps this test quick.
        for who, question in [
            ("alice", "What is the capital of Australia?"),
            ("bob", "Who painted the Mona Lisa?"),
        ]:
            response = client.post(
                "/kbs/manuals/ask", json={"question": question, "session_id": "same-id"}, headers=keys[who]
            )
            assert response.status_code == 200, response.text
        for who, question in [
            ("alice", "What is the capital of Australia?"),
            ("bob", "Who painted the Mona Lisa?"),
        ]:
            stored = client.get("/kbs/manuals/conversations/same-id", headers=keys[who]).json()["turns"]
            assert [turn["question"] for turn in stored] == [question]
            listed = client.get("/kbs/manuals/conversations", headers=keys[who]).json()["conversations"]
            assert [c["title"] for c in listed] == [question]


def test_chatglm_api_shape(client: TestClient) -> None:
    _seed(client, "default")
    response = client.post("/", json={"prompt": QUESTION, "history": [], "max_length": 2048, "top_p": 0.7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"response", "history", "status", "time"}
    assert body["status"] == 200
    assert body["history"] == [[QUESTION, body["response"]]]
    assert "24" in body["response"]


def test_sse_stream_sends_sources_then_tokens_then_done(base_url: str) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=120) as http,
        http.stream("POST", "/kbs/manuals/ask", json={"question": QUESTION, "stream": True}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(_sse(response.iter_lines()))
    names = [name for name, _ in events]
    # The passages come before the model writes: a page shows them while the answer streams.
    assert names[0] == "sources"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"token"}
    assert len(names) > 3
    done = AskResponse.model_validate(events[-1][1])
    assert "24" in done.answer
    shown = [Source.model_validate(s) for s in events[0][1]["sources"]]
    assert [s.chunk_id for s in shown] == [s.chunk_id for s in done.sources]
    assert any(s.cited and s.source == "warranty.md" for s in done.sources)


def test_the_official_openai_client_works_unmodified(base_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    assert "kb:manuals" in [model.id for model in client.models.list()]

    completion = client.chat.completions.create(
        model="kb:manuals",
        messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": QUESTION}],
        max_tokens=32,
    )
    assert "24" in (completion.choices[0].message.content or "")
    sources = (completion.model_extra or {})["sources"]
    assert any(s["cited"] and s["source"] == "warranty.md" for s in sources)

    pieces, final = [], None
    for chunk in client.chat.completions.create(
        model="kb:manuals", messages=[{"role": "user", "content": QUESTION}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert "24" in "".join(pieces)
    assert final is not None
    assert any(s["source"] == "warranty.md" for s in (final.model_extra or {})["sources"])

    from openai import NotFoundError

    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="kb:nope", messages=[{"role": "user", "content": "hi"}])


class EndlessChatModel(BaseChatModel):
    """Streams a token every 20 ms for 20 s unless closed; counts what it streamed."""

    streamed: int = 0
    closed: bool = False

    @property
    def _llm_type(self) -> str:
        return "endless-test-model"

    def get_num_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="x"))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        try:
            for _ in range(1000):
                self.streamed += 1
                yield ChatGenerationChunk(message=AIMessageChunk(content=" word"))
                time.sleep(0.02)
        finally:
            self.closed = True


def test_a_client_that_disconnects_stops_its_generation(tmp_path: Path, e5: E5Embeddings) -> None:
    # An endless model instead of the real one: the real model may finish its answer on its own at
    # any moment, and then this test would pass without the server having stopped anything.
    model = EndlessChatModel()
    with _app(tmp_path, e5, model) as app, _serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        _seed(http)
        with http.stream("POST", "/kbs/manuals/ask", json={"question": QUESTION, "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    break
        deadline = time.monotonic() + 5
        while Health.model_validate(http.get("/health").json()).busy:
            assert time.monotonic() < deadline, "generation kept running after the client left"
            time.sleep(0.05)
        assert model.closed
        assert model.streamed < 250  # 1000 tokens would have taken 20 s
        # The model is free for the next user at once.
        openai_style = {
            "model": "kb:manuals",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
        }
        with http.stream("POST", "/v1/chat/completions", json=openai_style) as response:
            first = next(line for line in response.iter_lines() if line.startswith("data:"))
        assert json.loads(first.removeprefix("data: "))["object"] == "chat.completion.chunk"
