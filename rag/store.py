"""A knowledge base's chunks and vectors in Chroma, embedded in-process or on a ``chroma run`` server.

Chroma is driven through its public client API with vectors kb computed itself, so Chroma never falls
back to its default embedding function (which would download ONNX weights).

Deleting rows costs Chroma about 0.2-0.4 ms each whatever they hold, so a removed document's chunks are first
*hidden* (searches skip them at once) and deleted afterwards (see ``ingest.manifest``). Until then the
collection, seen directly or through ``as_vectorstore``, still holds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from kbtypes.errors import ConfigError, EmbeddingMismatch, ProviderUnavailable

if TYPE_CHECKING:
    import numpy.typing as npt
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_chroma import Chroma

    from rag.chroma_engine import EngineCollection
    from rag.embedder import Embedder

__all__ = ["ChromaChunkStore", "StoredChunk", "chroma_client", "metadata_filter"]

logger = logging.getLogger(__name__)

_MODEL_KEY = "kb_embedding_model"
_DIM_KEY = "kb_embedding_dim"
_LOOKUP_BATCH = 500
_POST_FILTER_CAP = 800


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the store returns it, with its cosine similarity to the query when searched."""

    id: str
    text: str
    metadata: dict[str, Any]
    similarity: float = 0.0


def chroma_client(*, persist_directory: Path | None = None, url: str = "") -> ClientAPI:
    """Open an embedded Chroma under ``persist_directory``, or a Chroma server at ``url``.

    Raises:
        ConfigError: neither or both locations were given, or the URL is malformed.
        ProviderUnavailable: the Chroma server cannot be reached.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    if bool(persist_directory) == bool(url):
        raise ConfigError("give exactly one of persist_directory or url for the Chroma store")
    settings = ChromaSettings(anonymized_telemetry=False)
    if persist_directory is not None:
        persist_directory.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(persist_directory), settings=settings)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"KB_CHROMA_URL must look like http://host:port, got {url!r}")
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
        client.heartbeat()
    except Exception as e:  # chromadb raises bare Exception/ValueError for connection failures
        raise ProviderUnavailable(f"cannot reach the Chroma server at {url}: {e}") from e
    return client


def metadata_filter(*, sources: Set[str] | None, file_types: Sequence[str] | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause keeping only chunks of these sources and file types; None keeps everything.

    An empty ``sources`` set matches nothing (a source glob that matched no document).
    """
    clauses: list[dict[str, Any]] = []
    if sources is not None:
        clauses.append({"source": {"$in": sorted(sources) or ["\x00none"]}})
    if file_types:
        clauses.append({"suffix": {"$in": sorted(file_types)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaChunkStore:
    """One knowledge base's collection: chunk texts, metadata and vectors."""

    def __init__(
        self,
        client: ClientAPI | Callable[[], ClientAPI],
        collection_name: str,
        embeddings: Embedder,
        *,
        engine: EngineCollection | None = None,
    ) -> None:
        """Open or create the collection and check it was built with the same embedding model.

        Args:
            client: a Chroma client from ``chroma_client``, or a function that opens one.
            collection_name: the knowledge base's collection.
            embeddings: the model queries are embedded with; recorded on first use.
            engine: the same collection opened by ``rag.chroma_engine``; it serves reads until the first write,
                and only then is ``client`` called.

        Raises:
            EmbeddingMismatch: the collection was built with another model or dimension.
        """
        self.collection_name = collection_name
        self.embeddings = embeddings
        self._hidden: frozenset[str] = frozenset()
        self._hidden_lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._connect: Callable[[], ClientAPI] = client if callable(client) else lambda: client
        self._opened: tuple[ClientAPI, Collection] | None = None  # the client and its collection, once open
        self._reads: Collection | EngineCollection
        if engine is None:
            self._reads = self._writable()[1]
        else:
            self._check_model(engine.metadata)
            self._reads = engine

    @classmethod
    def embedded(
        cls, persist_directory: Path, collection_name: str, embeddings: Embedder
    ) -> ChromaChunkStore:
        """The collection of the embedded Chroma in ``persist_directory``, read through Chroma's engine.

        A command that only reads never loads the Python client (see ``rag.chroma_engine``).

        Raises:
            EmbeddingMismatch: the collection was built with another model or dimension.
        """
        from rag.chroma_engine import open_engine_collection

        return cls(
            lambda: chroma_client(persist_directory=persist_directory),
            collection_name,
            embeddings,
            engine=open_engine_collection(persist_directory, collection_name),
        )

    @property
    def client(self) -> ClientAPI:
        """The Chroma client, opened now if the store has so far only read through the engine."""
        return self._writable()[0]

    @property
    def client_open(self) -> bool:
        """Whether the Python client is open (a store opened by ``embedded`` reads without it until a write)."""
        return self._opened is not None

    def _writable(self) -> tuple[ClientAPI, Collection]:
        with self._client_lock:
            if self._opened is None:
                client = self._connect()
                self._opened = (client, self._open_collection(client))
                self._reads = self._opened[1]  # the engine is released: one process, one engine
            return self._opened

    def _open_collection(self, client: ClientAPI) -> Collection:
        collection = client.get_or_create_collection(
            self.collection_name,
            embedding_function=None,
            metadata={
                "hnsw:space": "cosine",
                _MODEL_KEY: self.embeddings.model_id,
                _DIM_KEY: self.embeddings.dimension,
            },
        )
        self._check_model(collection.metadata)
        return collection

    def _check_model(self, recorded: Mapping[str, Any] | None) -> None:
        recorded = recorded or {}
        model, dimension = self.embeddings.model_id, self.embeddings.dimension
        if recorded.get(_MODEL_KEY) != model or recorded.get(_DIM_KEY) != dimension:
            raise EmbeddingMismatch(
                f"knowledge base collection {self.collection_name!r} was built with "
                f"{recorded.get(_MODEL_KEY)} ({recorded.get(_DIM_KEY)}-d) but kb is configured with "
                f"{model} ({dimension}-d); configure the embeddings it was built with "
                f"(KB_EMBEDDINGS__PROVIDER / __MODEL / __ENGINE) or delete the knowledge base and ingest again"
            )

    def as_vectorstore(self) -> Chroma:
        """The same collection as a LangChain ``Chroma`` vector store, for use in other LangChain apps."""
        from langchain_chroma import Chroma

        return Chroma(
            client=self.client,
            collection_name=self.collection_name,
            embedding_function=self.embeddings.as_langchain(),
        )

    def count(self) -> int:
        """Rows in the collection, hidden ones awaiting deletion included."""
        return int(self._reads.count())

    def hide(self, ids: Iterable[str]) -> None:
        """Keep these chunks out of searches and lookups until they are deleted."""
        with self._hidden_lock:
            self._hidden = self._hidden | frozenset(ids)

    def unhide(self, ids: Iterable[str]) -> None:
        """Stop hiding chunks (after deleting them)."""
        with self._hidden_lock:
            self._hidden = self._hidden - frozenset(ids)

    @property
    def hidden_count(self) -> int:
        """Chunks hidden and not yet deleted."""
        return len(self._hidden)

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        """Insert or replace chunks by id, in batches the server accepts."""
        client, collection = self._writable()
        step = max(1, int(client.get_max_batch_size()))
        for start in range(0, len(ids), step):
            end = start + step
            collection.upsert(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
                embeddings=np.asarray(vectors[start:end], dtype=np.float32),
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""
        client, collection = self._writable()
        step = max(1, int(client.get_max_batch_size()))
        for start in range(0, len(ids), step):
            collection.delete(ids=list(ids[start : start + step]))

    def vectors_by_content_hash(self, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors for chunk texts with these hashes, so no text is embedded twice."""
        found: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _LOOKUP_BATCH):
            part = unique[start : start + _LOOKUP_BATCH]
            where: dict[str, Any] = {"content_hash": {"$in": part}}
            result = self._reads.get(where=where, include=["metadatas", "embeddings"])
            embeddings = result.get("embeddings")
            metadatas = result.get("metadatas") or []
            if embeddings is None:
                continue
            for metadata, vector in zip(metadatas, embeddings, strict=True):
                text_hash = str((metadata or {}).get("content_hash", ""))
                found.setdefault(text_hash, [float(x) for x in vector])
        return found

    def all_ids(self) -> set[str]:
        """Every chunk id (used when recovering from an interrupted ingest)."""
        ids: set[str] = set()
        offset, page = 0, 10_000
        while True:
            result = self._reads.get(include=[], limit=page, offset=offset)
            ids.update(result["ids"])
            if len(result["ids"]) < page:
                return ids
            offset += page

    def get(self, ids: Sequence[str], *, query_vector: Sequence[float] | None = None) -> list[StoredChunk]:
        """Visible chunks by id, in the order asked; unknown ids are skipped.

        With ``query_vector``, each chunk's cosine similarity to it is filled in from the stored vector (for
        passages found by keywords), in the same round trip.
        """
        include: list[Any] = ["documents", "metadatas"] + (["embeddings"] if query_vector is not None else [])
        query = None if query_vector is None else np.asarray(query_vector, dtype=np.float32)
        hidden = self._hidden  # read before the rows: a purge may delete and unhide ids meanwhile
        found: dict[str, StoredChunk] = {}
        for start in range(0, len(ids), _LOOKUP_BATCH):
            result = self._reads.get(ids=list(ids[start : start + _LOOKUP_BATCH]), include=include)
            documents = result.get("documents") or []
            metadatas = result.get("metadatas") or []
            similarities = [0.0] * len(result["ids"])
            vectors = result.get("embeddings")
            if query is not None and vectors is not None and len(vectors):
                similarities = _cosine(np.asarray(vectors, dtype=np.float32), query).tolist()
            for chunk_id, text, metadata, similarity in zip(
                result["ids"], documents, metadatas, similarities, strict=True
            ):
                found[chunk_id] = StoredChunk(
                    chunk_id, text or "", dict(metadata or {}), similarity=similarity
                )
        return [found[i] for i in ids if i in found and i not in hidden]

    def texts(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Text and metadata by id (rebuilds the lexical index after a crash)."""
        return {chunk.id: (chunk.text, chunk.metadata) for chunk in self.get(ids)}

    def search(
        self,
        query_vector: Sequence[float],
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> list[StoredChunk]:
        """Nearest visible chunks to a query vector, best first, with cosine similarity.

        Args:
            query_vector: the embedded query.
            k: how many chunks.
            where: Chroma metadata filter.
            accept: the same filter as a function of metadata; when given, the nearest few hundred chunks are
                filtered here first and ``where`` is used only if they hold fewer than ``k`` matches. At 100k
                rows Chroma's ``where`` costs ~120 ms (it pre-filters in SQLite), 800 neighbours ~15 ms.

        Hidden chunks are skipped after the query the same way (a ``$nin`` clause would cost ~0.6 s).
        """
        if k <= 0:
            return []
        hidden = self._hidden  # one snapshot for the whole search; removals may hide more meanwhile
        if where and accept is not None:
            found = self._nearest(
                query_vector, k, hidden, None, accept, first=max(10 * k, 200), cap=_POST_FILTER_CAP
            )
            if found is not None:
                return found
        first = k + min(len(hidden), max(k, 32))
        return self._nearest(query_vector, k, hidden, where, None, first=first, cap=k + len(hidden)) or []

    def _nearest(
        self,
        query_vector: Sequence[float],
        k: int,
        hidden: frozenset[str],
        where: Mapping[str, Any] | None,
        accept: Callable[[Mapping[str, Any]], bool] | None,
        *,
        first: int,
        cap: int,
    ) -> list[StoredChunk] | None:
        """Query ``first`` neighbours, widening up to ``cap`` until ``k`` pass.

        Returns None when ``cap`` neighbours held fewer than ``k`` that ``accept`` takes (without ``accept``,
        ``cap = k + len(hidden)`` always suffices, so that never happens).
        """
        fetch = first
        while True:
            result = self._reads.query(
                query_embeddings=np.asarray([query_vector], dtype=np.float32),
                n_results=fetch,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )
            ids = result["ids"][0]
            documents = (result.get("documents") or [[]])[0]
            metadatas = (result.get("metadatas") or [[]])[0]
            distances = (result.get("distances") or [[]])[0]
            found = [
                StoredChunk(chunk_id, text or "", dict(metadata or {}), similarity=1.0 - float(distance))
                for chunk_id, text, metadata, distance in zip(
                    ids, documents, metadatas, distances, strict=True
                )
                if chunk_id not in hidden and (accept is None or accept(metadata or {}))
            ]
            if len(found) >= k or len(ids) < fetch:
                return found[:k]
            if fetch >= cap:
                return None if accept is not None else found[:k]
            fetch = min(fetch * 4, cap)

    def drop(self) -> None:
        """Delete the whole collection."""
        self.client.delete_collection(self.collection_name)


def _cosine(matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    return np.asarray(matrix @ query / np.where(norms == 0, 1.0, norms), dtype=np.float32)
