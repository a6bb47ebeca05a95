"""Ingest into a real ``chroma run`` server on localhost (KB_CHROMA_URL), then search it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kb.knowledge_base import Workspace
from kb.settings import Settings
from rag.embeddings import E5Embeddings
from rag.store import chroma_client

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("chroma")
    if binary is None:
        pytest.skip("the chroma CLI (from the chromadb package) is not on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("chroma run did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ingest_and_search_through_chroma_server(tmp_path: Path, chroma_server: str, e5: E5Embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is steamed or pan-fired soon after picking.\n", encoding="utf-8")
    (docs / "rail.md").write_text("# Railways\n\n京沪高铁全长1318公里，设计时速350公里。\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home", chroma_url=chroma_server)
    workspace = Workspace(settings=settings, embeddings=e5, chroma=chroma_client(url=chroma_server))
    kb = workspace.open("remote", create=True)
    report = kb.ingest(docs)
    assert sorted(report.added) == ["rail.md", "tea.md"]
    assert kb.store.count() == len(kb.manifest.owned_ids())
    # The vectors live on the server, not in the knowledge base folder.
    assert not (kb.directory / "chroma").exists()
    hits = kb.search("京沪高铁有多长？", k=1, mode="dense")
    assert hits[0].source == "rail.md"
    workspace.close()


def test_unreachable_chroma_server_is_a_clear_error() -> None:
    from kb.errors import ProviderUnavailable

    with pytest.raises(ProviderUnavailable, match="cannot reach the Chroma server"):
        chroma_client(url=f"http://127.0.0.1:{_free_port()}")
