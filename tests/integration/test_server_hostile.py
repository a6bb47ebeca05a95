"""Hostile but authenticated requests get a 4xx naming the problem, quickly, never a 500 (issue #15).

Real parts: the E5 embedder, Chroma, the ingest pipeline. Limits are set small by each test so the bodies
stay small too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

MakeClient = Callable[..., TestClient]


def _create(client: TestClient, name: str = "manuals") -> None:
    response = client.post("/kbs", json={"name": name})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "raw",
    [
        b'{"query": "x", "score_threshold": NaN}',
        b'{"query": "x", "score_threshold": Infinity}',
        b'{"query": "x", "score_threshold": 1e400}',
        b'{"query": "\\ud800"}',
        b'{"query": "ok \\udfff ok", "k": 2}',
    ],
    ids=["nan", "infinity", "overflow", "lone-high-surrogate", "lone-low-surrogate"],
)
def test_unencodable_values_are_422_not_500(client: TestClient, raw: bytes) -> None:
    _create(client)
    response = client.post("/kbs/manuals/search", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors
    assert all({"loc", "msg", "type"} <= set(error) for error in errors)


def test_unencodable_values_in_openai_route_are_422(client: TestClient) -> None:
    _create(client)
    raw = b'{"model": "kb:manuals", "messages": [{"role": "user", "content": "\\ud800"}], "temperature": NaN}'
    response = client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_a_long_question_is_refused_with_the_limit_named(make_client: MakeClient) -> None:
    client = make_client(max_question_chars=200)
    _create(client)
    started = time.perf_counter()
    response = client.post("/kbs/manuals/ask", json={"question": "x" * 201})
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 413, response.text
    assert "max_question_chars" in response.json()["detail"]


def test_a_long_history_turn_is_refused(make_client: MakeClient) -> None:
    client = make_client(max_history_chars=500)
    _create(client)
    response = client.post(
        "/kbs/manuals/ask", json={"question": "and it?", "history": [["what is it?", "y" * 300_000]]}
    )
    assert response.status_code == 413, response.text
    assert "max_history_chars" in response.json()["detail"]


def test_too_many_history_turns_are_refused(make_client: MakeClient) -> None:
    client = make_client(max_history_turns=2)
    _create(client)
    history = [["q", "a"]] * 3
    response = client.post("/kbs/manuals/ask", json={"question": "and?", "history": history})
    assert response.status_code == 413, response.text
    assert "max_history_turns" in response.json()["detail"]


def test_openai_messages_are_capped_in_total(make_client: MakeClient) -> None:
    client = make_client(max_question_chars=1000, max_history_chars=1000)
    _create(client)
    messages = [{"role": "user", "content": "z" * 20_000}]
    response = client.post("/v1/chat/completions", json={"model": "kb:manuals", "messages": messages})
    assert response.status_code == 413, response.text
    assert "max_question_chars" in response.json()["error"]["message"]


def test_a_json_body_over_the_cap_is_refused_before_it_is_parsed(make_client: MakeClient) -> None:
    client = make_client(max_json_mb=0.01)  # about 10 KiB
    _create(client)
    body = json.dumps({"query": "x " * 20_000}).encode()
    started = time.perf_counter()
    response = client.post("/kbs/manuals/search", content=body, headers={"content-type": "application/json"})
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 413, response.text
    assert "max_json_mb" in response.json()["detail"]


def test_a_chunked_json_body_is_counted_as_it_arrives(make_client: MakeClient) -> None:
    client = make_client(max_json_mb=0.01)
    _create(client)

    def pieces() -> object:
        yield b'{"query": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    # No content-length: the limit must hold while the stream is read.
    response = client.post(
        "/kbs/manuals/search", content=pieces(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text


def _post_chunked_file(client: TestClient, blocks: int, block: bytes) -> Response:
    """POST one file of ``blocks`` × ``block`` bytes as a chunked multipart stream (no content-length)."""
    boundary = "kbboundary"

    def pieces() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(blocks):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    return client.post(
        "/kbs/manuals/documents",
        content=pieces(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )


def test_a_chunked_upload_over_the_limit_is_refused(make_client: MakeClient) -> None:
    client = make_client(max_upload_mb=0.01, max_files=2)
    _create(client)
    response = _post_chunked_file(client, 200, b"word " * 200)
    assert response.status_code == 413, response.text
    assert client.get("/kbs/manuals/documents").json()["documents"] == []


def test_api_docs_load_nothing_from_the_network(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "https://" not in page.text
        assert "http://" not in page.text
    swagger = client.get("/docs").text
    script = swagger.split('src="', 1)[1].split('"', 1)[0]
    asset = client.get(script)
    assert asset.status_code == 200
    assert len(asset.content) > 100_000  # the Swagger UI bundle itself, served from a package


def test_one_oversized_file_stops_the_parse_at_its_limit(make_client: MakeClient) -> None:
    """A 2 MB file under a 10 KiB per-file limit fails in the parser, not at the 400-file body cap."""
    client = make_client(max_upload_mb=0.01, max_files=400)  # the body cap is ~5 MiB, the file limit 10 KiB
    _create(client)
    response = _post_chunked_file(client, 2000, b"x" * 1024)
    assert response.status_code == 413, response.text
    assert "File exceeded the upload limit" in response.json()["detail"]


def test_a_json_document_over_the_upload_limit_is_refused_unread(make_client: MakeClient) -> None:
    """One text document may be max_upload_mb, however many files a multipart upload may carry."""
    client = make_client(max_upload_mb=0.01, max_files=400)
    _create(client)
    body = json.dumps({"text": "y" * 200_000, "source": "big.txt"}).encode()
    response = client.post(
        "/kbs/manuals/documents", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert "max_upload_mb" in response.json()["detail"]
    assert response.headers["connection"] == "close"


def test_one_upload_job_is_capped_in_total(make_client: MakeClient) -> None:
    client = make_client(max_upload_mb=1, max_files=50, max_job_mb=0.5)
    _create(client)
    files = [("files", (f"part-{n}.txt", b"word " * 60_000, "text/plain")) for n in range(10)]  # 3 MB in all
    response = client.post("/kbs/manuals/documents", files=files)
    assert response.status_code == 413, response.text
    assert "max_job_mb" in response.json()["detail"]
    assert client.get("/kbs/manuals/documents").json()["documents"] == []


def test_several_files_each_under_the_limit_are_accepted(make_client: MakeClient) -> None:
    """Regression: the per-file count must start again at every part (three files of 60% of the limit)."""
    client = make_client(max_upload_mb=0.1, max_files=5)
    _create(client)
    block = b"plain words for the index. " * (int(0.06 * (1 << 20)) // 27)
    files = [("files", (f"part-{n}.txt", block + str(n).encode(), "text/plain")) for n in range(3)]
    response = client.post("/kbs/manuals/documents", files=files, params={"wait": "true"})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["result"]["added"]) == ["part-0.txt", "part-1.txt", "part-2.txt"]


def _json_operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the OpenAPI schema that takes a JSON body, with that body's properties."""
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            ref = body["schema"].get("$ref", "")
            properties = components[ref.rsplit("/", 1)[-1]].get("properties", {}) if ref else {}
            found.append((method, path.replace("{kb}", "manuals"), properties))
    return found


def test_every_json_operation_refuses_unencodable_values_with_a_4xx(client: TestClient) -> None:
    """The schemathesis run draws only valid JSON; these are the values it cannot produce (NaN, surrogates)."""
    _create(client)
    operations = _json_operations(client)
    assert len(operations) >= 6
    for method, path, properties in operations:
        for name, spec in properties.items():
            kinds = {spec.get("type")} | {item.get("type") for item in spec.get("anyOf", [])}
            values = (["NaN", "1e400"] if kinds & {"number", "integer"} else []) + (
                ['"\\ud800"'] if "string" in kinds else []
            )
            for value in values:
                raw = f'{{"{name}": {value}}}'.encode()
                response = client.request(
                    method, path, content=raw, headers={"content-type": "application/json"}
                )
                assert 400 <= response.status_code < 500, (method, path, raw, response.text)
