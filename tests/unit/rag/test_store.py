"""ChromaChunkStore.search against a brute-force ranking, on an embedded Chroma with 1,200 known vectors.

The vectors are random, not embedded text, so where every chunk ranks is known exactly: this checks the
post-filter path, the fall-back to Chroma's ``where`` when the nearest chunks hold too few matches, and
hidden chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rag.embeddings import E5Embeddings
from rag.store import ChromaChunkStore, chroma_client

ROWS = 1200
DIM = 384


@pytest.fixture(scope="module")
def vectors() -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(11)
    matrix = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    return np.asarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def query(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(vectors[0], dtype=np.float32)


def _source(row: int) -> str:
    # Every tenth row is in "common.txt"; five rows, the ones farthest from the query, are in "rare.txt".
    return "common.txt" if row % 10 == 0 else f"file{row % 7}.txt"


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory,
    vectors: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    e5: E5Embeddings,
) -> ChromaChunkStore:
    home: Path = tmp_path_factory.mktemp("store")
    chunk_store = ChromaChunkStore(chroma_client(persist_directory=home), "kb_store_test", e5)
    farthest = set(np.argsort(vectors @ query)[:5].tolist())
    metadatas = [{"source": "rare.txt" if row in farthest else _source(row)} for row in range(ROWS)]
    chunk_store.upsert(
        [f"r{row}" for row in range(ROWS)],
        [f"text {row}" for row in range(ROWS)],
        metadatas,
        vectors.tolist(),
    )
    return chunk_store


def _expected(
    vectors: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    store: ChromaChunkStore,
    source: str | None,
    k: int,
    hidden: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    order = np.argsort(-(vectors @ query), kind="stable")
    metadatas = {chunk.id: chunk.metadata for chunk in store.get([f"r{row}" for row in range(ROWS)])}
    ids = [f"r{row}" for row in order.tolist()]
    return [
        i
        for i in ids
        if i not in hidden and i in metadatas and (source is None or metadatas[i]["source"] == source)
    ][:k]


def _filter(source: str) -> tuple[dict[str, Any], Any]:
    return {"source": {"$in": [source]}}, lambda metadata: metadata.get("source") == source


def test_unfiltered_matches_brute_force(
    store: ChromaChunkStore, vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> None:
    found = store.search(query.tolist(), 10)
    expected = _expected(vectors, query, store, None, 10)
    # Rows whose similarities tie to float precision may come back in either order: compare the scores.
    scores = vectors @ query
    assert [round(float(scores[int(c.id[1:])]), 5) for c in found] == [
        round(float(scores[int(i[1:])]), 5) for i in expected
    ]
    assert found[0].similarity == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("source", ["common.txt", "rare.txt"], ids=["post-filtered", "falls-back-to-where"])
def test_filtered_matches_brute_force(
    store: ChromaChunkStore, vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], source: str
) -> None:
    where, accept = _filter(source)
    found = store.search(query.tolist(), 5, where=where, accept=accept)
    assert [chunk.id for chunk in found] == _expected(vectors, query, store, source, 5)
    assert {chunk.metadata["source"] for chunk in found} == {source}


def test_hidden_chunks_are_skipped_even_when_they_are_all_the_nearest(
    store: ChromaChunkStore, vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> None:
    nearest = set(_expected(vectors, query, store, None, 300))
    store.hide(nearest)
    try:
        found = store.search(query.tolist(), 5)
        assert [chunk.id for chunk in found] == _expected(vectors, query, store, None, 5, hidden=nearest)
        where, accept = _filter("common.txt")
        filtered = store.search(query.tolist(), 5, where=where, accept=accept)
        assert [chunk.id for chunk in filtered] == _expected(
            vectors, query, store, "common.txt", 5, hidden=nearest
        )
        assert store.count() == ROWS, "hidden rows stay until deleted"
    finally:
        store.unhide(nearest)
