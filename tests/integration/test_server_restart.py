"""Upload jobs survive the server: killed with SIGKILL or stopped with SIGTERM mid-job, the next start finishes them.

A real ``kb serve`` process (uvicorn, the real e5 embedder, Chroma), real signals; issue #15.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

FILES = 24
WORDS = ["alder", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel", "ironwood", "juniper", "kapok",
         "larch", "maple", "nutmeg", "oak", "pine", "quince", "rowan", "spruce", "teak", "umbrella", "viburnum",
         "willow", "yew"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(home: Path, port: int, *, preload: bool = False) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KB_")},
        "KB_HOME": str(home),
        "KB_SERVER__PORT": str(port),
        "KB_INGEST__EMBED_BATCH_SIZE": "2",  # many small committed batches: a kill lands between them
        "KB_SERVER__MAX_FILES": "30",
        "KB_SERVER__PRELOAD_MODEL": "true" if preload else "false",  # these tests are about jobs, not answers
    }
    code = "from kb.settings import Settings; from server import run; run(Settings())"
    log = (home / f"server-{port}-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


def _documents() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        (
            "files",
            (
                f"tree-{word}.md",
                f"# {word}\n\nThe {word} grove in plot {n} was planted in {1900 + n} and holds {n * 7} {word} trees.\n".encode(),
                "text/markdown",
            ),
        )
        for n, word in enumerate(WORDS[:FILES])
    ]


def _job(base: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/kbs/groves/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _interrupt_mid_job(home: Path, sig: signal.Signals) -> tuple[str, int]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(home, port)
    try:
        _wait_healthy(base, server)
        assert httpx.post(f"{base}/kbs", json={"name": "groves"}).status_code == 201
        accepted = httpx.post(f"{base}/kbs/groves/documents", files=_documents(), timeout=60)
        assert accepted.status_code == 202, accepted.text
        job_id = str(accepted.json()["id"])
        deadline = time.monotonic() + 120
        while _job(base, job_id)["files_done"] < 2:
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.05)
        done_before = int(_job(base, job_id)["files_done"])
        assert done_before < FILES, "the job finished before it could be interrupted"
        stopped = time.monotonic()
        server.send_signal(sig)
        server.wait(60)
        return job_id, round(time.monotonic() - stopped)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)


def _finish_after_restart(home: Path, job_id: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(home, port)
    try:
        _wait_healthy(base, server)
        deadline = time.monotonic() + 180
        while (job := _job(base, job_id))["status"] != "done":
            assert job["status"] in ("queued", "running"), job
            assert time.monotonic() < deadline, "the resumed job did not finish"
            time.sleep(0.2)
        documents = httpx.get(f"{base}/kbs/groves/documents").json()["documents"]
        assert sorted(d["source"] for d in documents) == sorted(f"tree-{w}.md" for w in WORDS[:FILES])
        assert all(d["status"] == "indexed" for d in documents)
        for word in WORDS[:FILES]:
            hits = httpx.post(
                f"{base}/kbs/groves/search", json={"query": f"{word} grove", "k": 1, "mode": "bm25"}
            ).json()["hits"]
            assert hits, word
            assert hits[0]["source"] == f"tree-{word}.md", word
    finally:
        server.terminate()
        server.wait(60)


def test_a_job_killed_with_sigkill_finishes_after_a_restart(tmp_path: Path) -> None:
    job_id, _ = _interrupt_mid_job(tmp_path, signal.SIGKILL)
    _finish_after_restart(tmp_path, job_id)


def test_sigterm_stops_a_running_job_at_its_next_batch_and_the_restart_finishes_it(tmp_path: Path) -> None:
    job_id, seconds = _interrupt_mid_job(tmp_path, signal.SIGTERM)
    assert seconds <= 10  # not the whole job: the batch in progress, then exit
    _finish_after_restart(tmp_path, job_id)


def test_the_server_loads_the_chat_model_before_the_first_question(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, port, preload=True)
    try:
        _wait_healthy(base, server)
        deadline = time.monotonic() + 90
        while not httpx.get(f"{base}/health", timeout=5).json()["model_loaded"]:
            assert time.monotonic() < deadline, "the chat model was not loaded in the background"
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
