"""Ingest into a real ``chroma run`` server on localhost (KB_CHROMA_URL), then search it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import Workspace
from kb.settings import Settings
from kbtypes.retrieval import RetrievalOptions
from rag.embeddings import E5Embeddings
from rag.store import chroma_client
from tests.servers import free_port, run_local_server

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("chroma")
    if binary is None:
        pytest.skip("the chroma CLI (from the chromadb package) is not on PATH")
    argv = [binary, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", "{port}"]
    with run_local_server(argv, "/api/v2/heartbeat", log_path=tmp_path / "chroma.log") as url:
        yield url


def test_ingest_and_search_through_chroma_server(
    tmp_path: Path, chroma_server: str, e5: E5Embeddings
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text(
        "# Tea\n\nGreen tea is steamed or pan-fired soon after picking.\n", encoding="utf-8"
    )
    (docs / "rail.md").write_text("# Railways\n\n京沪高铁全长1318公里，设计时速350公里。\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home", chroma_url=chroma_server)
    workspace = Workspace(settings=settings, embeddings=e5, chroma=chroma_client(url=chroma_server))
    kb = workspace.open("remote", create=True)
    report = kb.ingest(docs)
    assert sorted(report.added) == ["rail.md", "tea.md"]
    assert kb._index.store.count() == len(kb._manifest.owned_ids())
    # The vectors live on the server, not in the knowledge base folder.
    assert not (kb.directory / "chroma").exists()
    hits = kb.search("京沪高铁有多长？", RetrievalOptions(k=1, mode="dense"))
    assert hits[0].source == "rail.md"
    workspace.close()


def test_unreachable_chroma_server_is_a_clear_error() -> None:
    from kbtypes.errors import ProviderUnavailable

    with pytest.raises(ProviderUnavailable, match="cannot reach the Chroma server"):
        chroma_client(url=f"http://127.0.0.1:{free_port()}")
