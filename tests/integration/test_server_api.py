"""The HTTP API through the ASGI app (TestClient): knowledge bases, uploads, search, limits, auth, queue.

Real parts throughout: the E5 embedder, Chroma and the ingest pipeline on tmp_path. Only the 429 test
injects a chat model, a deliberately slow one, because it needs the model busy for a known time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from server.schemas import (
    AskResponse,
    DocumentList,
    ErrorBody,
    Health,
    IngestJob,
    KnowledgeBaseInfo,
    KnowledgeBaseList,
    SearchResponse,
)

WARRANTY = "# Warranty\n\nThe Zephyr X2 drone comes with a warranty of 24 months from the date of purchase.\n"
BATTERY = "# Battery\n\nThe Zephyr X2 battery takes 90 minutes to charge fully and flies for 31 minutes.\n"

MakeClient = Callable[..., TestClient]


def _create(client: TestClient, name: str = "manuals") -> None:
    response = client.post("/kbs", json={"name": name, "description": "product manuals"})
    assert response.status_code == 201, response.text


def _upload(client: TestClient, kb: str, files: dict[str, str], **params: Any) -> Any:
    parts = [("files", (name, text.encode(), "text/markdown")) for name, text in files.items()]
    return client.post(f"/kbs/{kb}/documents", files=parts, params=params)


def test_health_reports_the_server_state(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    health = Health.model_validate(response.json())
    assert health.knowledge_bases == 0
    assert health.model_loaded is False
    assert health.queue_waiting == 0


def test_knowledge_base_lifecycle(client: TestClient) -> None:
    _create(client)
    info = KnowledgeBaseInfo.model_validate(client.get("/kbs/manuals").json())
    assert (info.name, info.description, info.documents) == ("manuals", "product manuals", 0)

    again = client.post("/kbs", json={"name": "manuals"})
    assert again.status_code == 409
    assert "already exists" in ErrorBody.model_validate(again.json()).detail

    listing = KnowledgeBaseList.model_validate(client.get("/kbs").json())
    assert [kb.name for kb in listing.knowledge_bases] == ["manuals"]

    assert client.delete("/kbs/manuals").status_code == 204
    missing = client.delete("/kbs/manuals")
    assert missing.status_code == 404
    assert ErrorBody.model_validate(missing.json()).type == "KnowledgeBaseNotFound"


@pytest.mark.parametrize("name", ["bad name", "-dash-first", "x" * 63 + "y", "über"])
def test_invalid_knowledge_base_names_are_refused(client: TestClient, name: str) -> None:
    response = client.post("/kbs", json={"name": name})
    assert response.status_code in (400, 422), response.text


def test_invalid_name_in_a_path_is_a_client_error(client: TestClient) -> None:
    response = client.get("/kbs/bad..name/documents")
    assert response.status_code == 400
    assert ErrorBody.model_validate(response.json()).type == "ConfigError"


def test_upload_search_and_delete_a_document(client: TestClient, tmp_path: Path) -> None:
    _create(client)
    response = _upload(client, "manuals", {"warranty.md": WARRANTY, "battery.md": BATTERY}, wait="true")
    assert response.status_code == 200, response.text
    job = IngestJob.model_validate(response.json())
    assert job.status == "done"
    assert job.result is not None
    assert sorted(job.result.added) == ["battery.md", "warranty.md"]
    assert job.files_done == 2
    assert job.chunks >= 2

    documents = DocumentList.model_validate(client.get("/kbs/manuals/documents").json()).documents
    assert {d.source for d in documents} == {"battery.md", "warranty.md"}
    assert all(d.status == "indexed" and d.chunks >= 1 and len(d.sha256) == 64 for d in documents)

    search = client.post("/kbs/manuals/search", json={"query": "how long is the warranty", "k": 2})
    hits = SearchResponse.model_validate(search.json()).hits
    assert hits[0].source == "warranty.md"
    assert "24 months" in hits[0].text

    warranty = next(d for d in documents if d.source == "warranty.md")
    assert client.delete(f"/kbs/manuals/documents/{warranty.doc_id}").status_code == 204
    after = SearchResponse.model_validate(
        client.post("/kbs/manuals/search", json={"query": "how long is the warranty", "k": 5}).json()
    ).hits
    assert all(hit.source != "warranty.md" for hit in after)
    remaining = DocumentList.model_validate(client.get("/kbs/manuals/documents").json()).documents
    assert [d.source for d in remaining] == ["battery.md"]
    uploads = tmp_path / "home" / "kbs" / "manuals" / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["battery.md"]
    assert client.delete(f"/kbs/manuals/documents/{warranty.doc_id}").status_code == 404


def test_uploads_run_as_pollable_jobs_and_unchanged_files_cost_nothing(client: TestClient) -> None:
    _create(client)
    accepted = _upload(client, "manuals", {"battery.md": BATTERY})
    assert accepted.status_code == 202
    job = IngestJob.model_validate(accepted.json())
    assert job.status in ("queued", "running", "done")
    deadline = time.monotonic() + 60
    while job.status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = IngestJob.model_validate(client.get(f"/kbs/manuals/jobs/{job.id}").json())
    assert job.status == "done"
    assert job.result is not None
    assert job.result.added == ["battery.md"]

    again = IngestJob.model_validate(_upload(client, "manuals", {"battery.md": BATTERY}, wait="true").json())
    assert again.result is not None
    assert again.result.unchanged == ["battery.md"]
    assert client.get("/kbs/manuals/jobs/nope").status_code == 404


def test_text_documents_can_be_sent_as_json(client: TestClient) -> None:
    _create(client)
    response = client.post(
        "/kbs/manuals/documents", params={"wait": "true"}, json={"text": WARRANTY, "source": "policy"}
    )
    assert response.status_code == 200, response.text
    job = IngestJob.model_validate(response.json())
    assert job.files == ["policy.txt"]
    hits = SearchResponse.model_validate(
        client.post("/kbs/manuals/search", json={"query": "warranty"}).json()
    ).hits
    assert hits
    assert hits[0].source == "policy.txt"


@pytest.mark.parametrize(
    "filename", ["../../evil.md", "/etc/evil.md", "..\\..\\evil.md", "a/../../evil.md", ".env.md"]
)
def test_traversal_and_unsafe_file_names_are_refused(
    client: TestClient, tmp_path: Path, filename: str
) -> None:
    _create(client)
    response = client.post(
        "/kbs/manuals/documents", files=[("files", (filename, b"# x\n\nbody", "text/markdown"))]
    )
    assert response.status_code == 400, response.text
    assert not list((tmp_path / "home").rglob("evil.md"))
    uploads = tmp_path / "home" / "kbs" / "manuals" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_unsupported_types_and_bodies_are_415(client: TestClient) -> None:
    _create(client)
    response = client.post(
        "/kbs/manuals/documents", files=[("files", ("tool.exe", b"MZ", "application/octet-stream"))]
    )
    assert response.status_code == 415
    assert ErrorBody.model_validate(response.json()).type == "UnsupportedFileType"
    plain = client.post("/kbs/manuals/documents", content=b"hello", headers={"content-type": "text/plain"})
    assert plain.status_code == 415


def test_limits_on_upload_size_and_count_are_413(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(max_upload_mb=0.001, max_files=2)  # about 1 KiB per file
    _create(client)
    big = _upload(client, "manuals", {"big.md": "x" * 4096})
    assert big.status_code == 413
    many = _upload(client, "manuals", {"a.md": "a", "b.md": "b", "c.md": "c"})
    assert many.status_code == 413
    text = client.post("/kbs/manuals/documents", json={"text": "y" * 4096})
    assert text.status_code == 413
    uploads = tmp_path / "home" / "kbs" / "manuals" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/kbs", {"nme": "typo"}),
        ("post", "/kbs/manuals/search", {"query": ""}),
        ("post", "/kbs/manuals/search", {"query": "x", "k": 0}),
        ("post", "/kbs/manuals/ask", {"question": "x", "mode": "telepathy"}),
        ("post", "/kbs/manuals/ask", {"question": "x", "history": [["only one"]]}),
        ("post", "/v1/chat/completions", {"model": "kb:manuals", "messages": []}),
        ("post", "/", {"history": []}),
    ],
)
def test_malformed_requests_get_422(client: TestClient, method: str, path: str, body: dict[str, Any]) -> None:
    _create(client)
    response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text


def test_malformed_json_and_multipart_are_client_errors(client: TestClient) -> None:
    _create(client)
    broken = client.post("/kbs", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422
    form = client.post(
        "/kbs/manuals/documents",
        content=b"garbage",
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert 400 <= form.status_code < 500


def test_api_keys_guard_everything_but_health(make_client: MakeClient) -> None:
    client = make_client(api_keys=["s3cret", "other"])
    assert client.get("/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = client.get("/kbs", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/models").status_code == 401
    assert client.post("/", json={"prompt": "hi"}).status_code == 401
    assert client.get("/kbs", headers={"Authorization": "Bearer other"}).status_code == 200


def test_cors_is_configurable(make_client: MakeClient) -> None:
    client = make_client(cors_origins=["https://intranet.example"])
    preflight = client.options(
        "/kbs",
        headers={"Origin": "https://intranet.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://intranet.example"


def test_requests_carry_an_id_and_leave_an_access_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="server.access"):
        response = client.get("/kbs/none/documents", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert ErrorBody.model_validate(response.json()).request_id == "abc-123"
    [line] = [r.getMessage() for r in caplog.records if r.name == "server.access"]
    assert "method=GET path=/kbs/none/documents status=404" in line
    assert "request_id=abc-123" in line
    assert client.get("/health").headers["x-request-id"]  # generated when the client sends none


class SlowChatModel(BaseChatModel):
    """Streams one token every 50 ms until released: keeps the one model busy for as long as a test needs."""

    release: threading.Event
    tokens_streamed: int = 0

    @property
    def _llm_type(self) -> str:
        return "slow-test-model"

    def get_num_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        # Never-repeating text: the answer chain stops a generation that loops, which would free the slot.
        for n in range(400):
            self.tokens_streamed += 1
            yield ChatGenerationChunk(message=AIMessageChunk(content=" 24 months [1]" if n == 0 else f" {n}"))
            if self.release.wait(0.05):
                break


def test_a_full_queue_answers_429_with_retry_after(make_client: MakeClient) -> None:
    # A deliberately slow model (injected through the Workspace constructor) holds the single model
    # slot for as long as the test wants; the real model's speed would make the timing flaky.
    model = SlowChatModel(release=threading.Event())
    client = make_client(chat_model=lambda: model, queue_size=1)
    _create(client)
    assert _upload(client, "manuals", {"warranty.md": WARRANTY}, wait="true").status_code == 200
    ask = {"question": "How long is the Zephyr X2 warranty?"}

    def wait_until(predicate: Callable[[Health], bool]) -> None:
        deadline = time.monotonic() + 30
        while not predicate(Health.model_validate(client.get("/health").json())):
            assert time.monotonic() < deadline
            time.sleep(0.05)

    with ThreadPoolExecutor(2) as pool:
        generating = pool.submit(client.post, "/kbs/manuals/ask", json=ask)
        wait_until(lambda h: h.busy)
        waiting = pool.submit(client.post, "/kbs/manuals/ask", json=ask)
        wait_until(lambda h: h.queue_waiting == 1)
        refused = client.post("/kbs/manuals/ask", json=ask)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert ErrorBody.model_validate(refused.json()).type == "QueueFull"
        model.release.set()
        assert generating.result().status_code == 200
        assert waiting.result().status_code == 200
    answer = AskResponse.model_validate(generating.result().json())
    assert "24 months" in answer.answer
    assert client.post("/kbs/manuals/ask", json=ask).status_code == 200  # the line is free again


def test_empty_knowledge_base_refuses_without_generating(make_client: MakeClient) -> None:
    model = SlowChatModel(release=threading.Event())
    client = make_client(chat_model=lambda: model)
    _create(client)
    response = client.post("/kbs/manuals/ask", json={"question": "What is the warranty?"})
    assert response.status_code == 200, response.text
    answer = AskResponse.model_validate(response.json())
    assert answer.refused
    assert answer.sources == []
    assert model.tokens_streamed == 0
