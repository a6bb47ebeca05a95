"""Reading an embedded collection through Chroma's engine gives what the Python client gives.

``ChromaChunkStore.embedded`` reads through ``rag.chroma_engine`` until its first write, so a command that only
reads never loads ``chromadb``; these tests read one real collection both ways and compare.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from langchain_core.embeddings import Embeddings

from rag.chroma_engine import open_engine_collection
from rag.e5 import E5Embedder
from rag.embeddings import E5Embeddings
from rag.store import ChromaChunkStore, chroma_client

ROWS = 300
DIM = 384
NAME = "kb_engine_test"


def _unit_rows(rows: int, seed: int) -> npt.NDArray[np.float32]:
    matrix = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def vectors() -> npt.NDArray[np.float32]:
    return _unit_rows(ROWS, seed=5)


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, vectors: npt.NDArray[np.float32], e5: E5Embeddings
) -> Path:
    """A folder whose collection was written through the client, then closed, as ``kb ingest`` leaves it."""
    folder: Path = tmp_path_factory.mktemp("engine") / "chroma"
    writer = ChromaChunkStore(chroma_client(persist_directory=folder), NAME, e5)
    writer.upsert(
        [f"r{row}" for row in range(ROWS)],
        [f"text {row}" for row in range(ROWS)],
        [{"source": f"file{row % 3}.txt", "content_hash": f"h{row}"} for row in range(ROWS)],
        vectors.tolist(),
    )
    return folder


def test_a_read_only_store_never_opens_the_client(home: Path, e5: E5Embeddings) -> None:
    reader = ChromaChunkStore.embedded(home, NAME, e5)
    reader.search([1.0] + [0.0] * (DIM - 1), 3)
    reader.get(["r1"])
    assert not reader.client_open


def test_engine_reads_match_client_reads(
    home: Path, vectors: npt.NDArray[np.float32], e5: E5Embeddings
) -> None:
    through_engine = ChromaChunkStore.embedded(home, NAME, e5)
    through_client = ChromaChunkStore(chroma_client(persist_directory=home), NAME, e5)
    query = vectors[7].tolist()
    where = {"source": {"$in": ["file1.txt"]}}

    def accept(metadata: object) -> bool:
        return isinstance(metadata, dict) and metadata.get("source") == "file1.txt"

    for store in (through_engine, through_client):
        assert store.count() == ROWS
    assert through_engine.all_ids() == through_client.all_ids() == {f"r{row}" for row in range(ROWS)}
    for kwargs in ({}, {"where": where}, {"where": where, "accept": accept}):
        engine_hits = through_engine.search(query, 8, **kwargs)  # type: ignore[arg-type]
        client_hits = through_client.search(query, 8, **kwargs)  # type: ignore[arg-type]
        assert [(h.id, h.text, h.metadata) for h in engine_hits] == [
            (h.id, h.text, h.metadata) for h in client_hits
        ]
        assert [h.similarity for h in engine_hits] == pytest.approx([h.similarity for h in client_hits])
    assert engine_hits[0].id == "r7"
    asked = ["r3", "r250", "missing", "r7"]
    engine_rows = through_engine.get(asked, query_vector=query)
    client_rows = through_client.get(asked, query_vector=query)
    assert [(r.id, r.text, r.metadata) for r in engine_rows] == [
        (r.id, r.text, r.metadata) for r in client_rows
    ]
    assert [r.similarity for r in engine_rows] == pytest.approx([r.similarity for r in client_rows])
    assert engine_rows[-1].similarity == pytest.approx(1.0, abs=1e-4)
    hashes = ["h3", "h299", "nope"]
    assert through_engine.vectors_by_content_hash(hashes).keys() == {"h3", "h299"}
    assert through_engine.vectors_by_content_hash(hashes)["h3"] == pytest.approx(
        vectors[3].tolist(), abs=1e-6
    )
    assert not through_engine.client_open


def test_the_first_write_opens_the_client_and_reads_see_it(
    tmp_path: Path, vectors: npt.NDArray[np.float32], e5: E5Embeddings
) -> None:
    folder = tmp_path / "chroma"
    ChromaChunkStore(chroma_client(persist_directory=folder), NAME, e5).upsert(
        ["a"], ["first"], [{"source": "a.txt"}], [vectors[0].tolist()]
    )
    store = ChromaChunkStore.embedded(folder, NAME, e5)
    assert not store.client_open
    store.upsert(["b"], ["second"], [{"source": "b.txt"}], [vectors[1].tolist()])
    assert store.client_open
    assert [hit.id for hit in store.search(vectors[1].tolist(), 1)] == ["b"]
    store.delete(["a"])
    assert store.all_ids() == {"b"}


def test_the_langchain_vector_store_reads_the_same_rows(home: Path, vectors: npt.NDArray[np.float32]) -> None:
    store = ChromaChunkStore.embedded(home, NAME, E5Embedder())  # kb's own model, not a LangChain one
    vectorstore = store.as_vectorstore()
    assert store.client_open, "LangChain's Chroma needs the client"
    assert isinstance(vectorstore.embeddings, Embeddings)
    found = vectorstore.similarity_search_by_vector(vectors[42].tolist(), k=2)
    assert [doc.page_content for doc in found][0] == "text 42"
    assert [doc.page_content for doc in found] == [hit.text for hit in store.search(vectors[42].tolist(), 2)]


def test_a_folder_without_the_collection_is_opened_through_the_client(
    tmp_path: Path, e5: E5Embeddings
) -> None:
    assert open_engine_collection(tmp_path / "absent", NAME) is None
    ChromaChunkStore(chroma_client(persist_directory=tmp_path / "other"), "kb_other", e5)
    assert open_engine_collection(tmp_path / "other", NAME) is None, (
        "the folder holds another collection only"
    )
    store = ChromaChunkStore.embedded(tmp_path / "other", NAME, e5)
    assert store.client_open
    assert store.count() == 0


def test_reading_through_the_engine_does_not_import_the_client(home: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; from rag.chroma_engine import open_engine_collection; "
        f"c = open_engine_collection(Path({str(home)!r}), {NAME!r}); "
        "rows = c.get(['r1'], include=['documents']); "
        "print(rows['documents'], c.count(), 'chromadb' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['text", "1']", str(ROWS), "False"]
