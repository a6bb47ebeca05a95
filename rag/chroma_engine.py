"""Reads of an embedded Chroma collection through Chroma's Rust engine, without its Python client.

``import chromadb`` costs a fresh process about half a second on a small machine (its client pulls in
telemetry and gRPC exporters) before any row is read; the engine underneath loads in a few milliseconds. A
command that only reads (``kb search``, ``kb ask``) therefore reads through the engine, and the store opens the
full client at its first write (see ``rag.store``), so that one process never drives two engines at once.

The engine's Python bindings are Chroma's own internal interface, not a public API: they are used only with
the Chroma releases whose call signatures were checked here (``_CHECKED_RELEASES``); with any other release, or
when the bindings are missing, ``open_engine_collection`` returns None and the store uses the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["EngineCollection", "open_engine_collection"]

logger = logging.getLogger(__name__)

_CHECKED_RELEASES = ("1.5.",)
_TENANT = "default_tenant"
_DATABASE = "default_database"
_SQLITE_FILE = "chroma.sqlite3"
# One knowledge base reads one collection; the client sizes this cache from the open-file limit instead.
_HNSW_CACHE_SIZE = 16


class EngineCollection:
    """One existing collection, read with the calls and result shapes of ``chromadb``'s ``Collection``.

    Only what ``rag.store`` reads is offered: ``get``, ``query``, ``count`` and the collection's ``metadata``.
    """

    def __init__(self, engine: Any, collection_id: str, metadata: Mapping[str, Any] | None) -> None:
        """Wrap an opened engine and the id of a collection it holds."""
        self._engine = engine
        self._id = collection_id
        self.metadata: dict[str, Any] = dict(metadata or {})

    def count(self) -> int:
        """Rows in the collection."""
        return int(self._engine.count(self._id, _TENANT, _DATABASE))

    def get(
        self,
        ids: Sequence[str] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        include: Sequence[str] = ("documents", "metadatas"),
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """Rows by id or metadata filter, as ``Collection.get`` returns them."""
        response = self._engine.get(
            self._id,
            list(ids) if ids is not None else None,
            json.dumps(where) if where else None,
            limit,
            offset or 0,
            None,
            list(include),
            _TENANT,
            _DATABASE,
        )
        return _fields(response, ("ids", "documents", "metadatas", "embeddings"))

    def query(
        self,
        *,
        query_embeddings: Any,
        n_results: int,
        where: Mapping[str, Any] | None = None,
        include: Sequence[str] = ("documents", "metadatas", "distances"),
    ) -> dict[str, Any]:
        """Nearest rows to each query vector, as ``Collection.query`` returns them."""
        response = self._engine.query(
            self._id,
            None,
            query_embeddings,
            n_results,
            json.dumps(where) if where else None,
            None,
            list(include),
            _TENANT,
            _DATABASE,
        )
        return _fields(response, ("ids", "documents", "metadatas", "distances"))


def _fields(response: Any, names: Sequence[str]) -> dict[str, Any]:
    """The engine's response object as the dict ``chromadb``'s client builds from it."""
    return {name: getattr(response, name) for name in names}


def open_engine_collection(persist_directory: Path, name: str) -> EngineCollection | None:
    """Open collection ``name`` of the embedded Chroma in ``persist_directory`` for reading through the engine.

    Returns:
        None when the folder holds no such collection yet, the bindings cannot be imported, or Chroma is a
        release these calls were not checked against; the caller then uses the Python client.
    """
    sqlite_path = persist_directory / _SQLITE_FILE
    if not sqlite_path.is_file():
        return None
    try:
        import chromadb_rust_bindings as bindings

        release = version("chromadb")  # the engine's own get_version would import the whole client
    except (ImportError, PackageNotFoundError):
        return None
    if not release.startswith(_CHECKED_RELEASES):
        logger.debug("chroma release=%s unchecked; reading through the client", release)
        return None
    try:
        engine = bindings.Bindings(
            allow_reset=False,
            sqlite_db_config=bindings.SqliteDBConfig(
                hash_type=bindings.MigrationHash.MD5,
                migration_mode=bindings.MigrationMode.Apply,
                url=str(sqlite_path),
            ),
            persist_path=str(persist_directory),
            hnsw_cache_size=_HNSW_CACHE_SIZE,
        )
        collection = engine.get_collection(name, _TENANT, _DATABASE)
    except Exception as e:  # the engine raises chromadb's own errors (NotFoundError) and bare exceptions
        logger.debug("chroma engine unavailable collection=%s reason=%s; using the client", name, e)
        return None
    return EngineCollection(engine, str(collection.id), collection.metadata)
