"""The incremental-ingest manifest: what each indexed file looked like and which chunks it owns.

The manifest (SQLite, in the knowledge-base folder) is the source of truth for what the index should hold.
Writes to the vector store and the lexical index cannot share its transaction, so every change is bracketed:
``begin`` records the chunk ids a file is about to get as *pending* before any store is touched, and
``commit`` swaps them in afterwards. A run that dies in between leaves the pending ids behind; the next run
sees them, removes whatever they and the old ids left in the stores that no file owns, and re-indexes the file.

Removing a file is one transaction: its record goes and its chunk ids move to the *retired* list. Searches hide
retired chunks at once; deleting their rows from the vector store (slow in Chroma: about 0.2-0.4 ms per row)
happens afterwards, and each deleted batch is released from the list, so an interrupted purge resumes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["FileRecord", "FileStatus", "Manifest", "immediate_transaction"]

FileStatus = Literal["indexed", "pending", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    source      TEXT PRIMARY KEY,
    root        TEXT NOT NULL DEFAULT '',
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    chunk_ids   TEXT NOT NULL DEFAULT '[]',
    pending_ids TEXT NOT NULL DEFAULT '[]',
    updated_at  REAL NOT NULL,
    stale       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS retired (
    chunk_id    TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_SET_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on an autocommit connection: it takes the write lock at once, rolls back on error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@dataclass(frozen=True)
class FileRecord:
    """One source file as the manifest last saw it."""

    source: str
    root: str
    size: int
    mtime_ns: int
    sha256: str
    status: FileStatus
    error: str
    chunk_ids: tuple[str, ...]
    pending_ids: tuple[str, ...]
    updated_at: float
    stale: bool = False  # indexed under another chunking recipe: read again even if unchanged


class Manifest:
    """SQLite-backed record of indexed files, keyed by source path relative to the ingested root."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the manifest at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The server calls in from worker threads; SQLite serialises writers itself.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
        if "stale" not in columns:  # a manifest written before recipes were tracked
            self._db.execute("ALTER TABLE files ADD COLUMN stale INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        """Release the database handle."""
        self._db.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db)

    @staticmethod
    def _record(row: tuple[str, str, int, int, str, str, str, str, str, float, int]) -> FileRecord:
        source, root, size, mtime_ns, sha256, status, error, chunk_ids, pending_ids, updated_at, stale = row
        return FileRecord(
            source=source,
            root=root,
            size=size,
            mtime_ns=mtime_ns,
            sha256=sha256,
            status=status,  # type: ignore[arg-type]
            error=error,
            chunk_ids=tuple(json.loads(chunk_ids)),
            pending_ids=tuple(json.loads(pending_ids)),
            updated_at=updated_at,
            stale=bool(stale),
        )

    _COLUMNS = (
        "source, root, size, mtime_ns, sha256, status, error, chunk_ids, pending_ids, updated_at, stale"
    )

    def get(self, source: str) -> FileRecord | None:
        """The record for ``source``, or None when the file was never seen."""
        row = self._db.execute(f"SELECT {self._COLUMNS} FROM files WHERE source = ?", (source,)).fetchone()
        return self._record(row) if row else None

    def records(self) -> dict[str, FileRecord]:
        """Every record, by source."""
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM files ORDER BY source").fetchall()
        return {row[0]: self._record(row) for row in rows}

    def sources(self) -> list[str]:
        """Source paths of every record, without decoding their chunk-id lists (cheap at any size)."""
        return [row[0] for row in self._db.execute("SELECT source FROM files ORDER BY source")]

    def begin(
        self, source: str, *, root: str, size: int, mtime_ns: int, sha256: str, pending_ids: list[str]
    ) -> None:
        """Announce the chunk ids ``source`` is about to get, before any store is written."""
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE files SET status='pending', pending_ids=?, updated_at=? WHERE source=?",
                (json.dumps(pending_ids), time.time(), source),
            ).rowcount
            if not updated:
                db.execute(
                    "INSERT INTO files (source, root, size, mtime_ns, sha256, status, pending_ids, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (source, root, size, mtime_ns, sha256, json.dumps(pending_ids), time.time()),
                )

    def commit(
        self, source: str, *, root: str, size: int, mtime_ns: int, sha256: str, chunk_ids: list[str]
    ) -> None:
        """Record that the stores now hold exactly ``chunk_ids`` for ``source``."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO files (source, root, size, mtime_ns, sha256, status, error, chunk_ids, pending_ids, "
                "updated_at) VALUES (?, ?, ?, ?, ?, 'indexed', '', ?, '[]', ?) "
                "ON CONFLICT(source) DO UPDATE SET root=excluded.root, size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "sha256=excluded.sha256, status='indexed', error='', chunk_ids=excluded.chunk_ids, "
                "pending_ids='[]', updated_at=excluded.updated_at, stale=0",
                (source, root, size, mtime_ns, sha256, json.dumps(chunk_ids), time.time()),
            )

    def touch(self, source: str, *, size: int, mtime_ns: int) -> None:
        """Remember a new size/mtime for a file whose content hash did not change."""
        with self._transaction() as db:
            db.execute("UPDATE files SET size=?, mtime_ns=? WHERE source=?", (size, mtime_ns, source))

    def fail(self, source: str, *, root: str, size: int, mtime_ns: int, sha256: str, error: str) -> None:
        """Record a file that could not be indexed; it owns no chunks and is retried when it changes."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO files (source, root, size, mtime_ns, sha256, status, error, chunk_ids, pending_ids, "
                "updated_at) VALUES (?, ?, ?, ?, ?, 'failed', ?, '[]', '[]', ?) "
                "ON CONFLICT(source) DO UPDATE SET root=excluded.root, size=excluded.size, mtime_ns=excluded.mtime_ns, "
                "sha256=excluded.sha256, status='failed', error=excluded.error, chunk_ids='[]', "
                "pending_ids='[]', updated_at=excluded.updated_at, stale=0",
                (source, root, size, mtime_ns, sha256, error, time.time()),
            )

    def remove(self, source: str) -> None:
        """Forget ``source`` once its chunks are gone from the stores."""
        with self._transaction() as db:
            db.execute("DELETE FROM files WHERE source=?", (source,))

    def retire(self, source: str) -> list[str]:
        """Forget ``source`` and queue its chunk ids for deletion from the stores; returns those ids."""
        with self._transaction() as db:
            row = db.execute("SELECT chunk_ids, pending_ids FROM files WHERE source=?", (source,)).fetchone()
            if row is None:
                return []
            ids = sorted(set(json.loads(row[0])) | set(json.loads(row[1])))
            db.executemany("INSERT OR IGNORE INTO retired (chunk_id) VALUES (?)", ((i,) for i in ids))
            db.execute("DELETE FROM files WHERE source=?", (source,))
        return ids

    def retired_ids(self, limit: int | None = None) -> list[str]:
        """Chunk ids of removed files that may still be in the stores (the first ``limit`` of them)."""
        rows = self._db.execute("SELECT chunk_id FROM retired ORDER BY chunk_id LIMIT ?", (limit or -1,))
        return [row[0] for row in rows]

    def chunk_count(self) -> int:
        """Chunks of indexed files: what searches can find."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(json_array_length(chunk_ids)), 0) FROM files WHERE status='indexed'"
        ).fetchone()
        return int(row[0])

    def release(self, ids: Sequence[str]) -> None:
        """Drop ids from the retired list once the stores no longer hold them."""
        with self._transaction() as db:
            db.executemany("DELETE FROM retired WHERE chunk_id=?", ((i,) for i in ids))

    def owned_ids(self) -> set[str]:
        """Chunk ids the stores must hold: those of every committed file."""
        owned: set[str] = set()
        for (chunk_ids,) in self._db.execute("SELECT chunk_ids FROM files WHERE status='indexed'"):
            owned.update(json.loads(chunk_ids))
        return owned

    def interrupted(self) -> list[FileRecord]:
        """Files whose last write never committed (a crash or Ctrl-C mid-ingest)."""
        return [record for record in self.records().values() if record.status == "pending"]

    def adopt_recipe(self, recipe: str) -> None:
        """Mark every file stale when the way files become chunks is not ``recipe`` any more, and adopt it.

        One transaction: a file stays stale until it is indexed (or fails) again under the new recipe.
        """
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key='recipe'").fetchone()
            if row is not None and row[0] == recipe:
                return
            db.execute("UPDATE files SET stale=1")
            db.execute(_SET_META, ("recipe", recipe))

    def get_meta(self, key: str) -> str | None:
        """A knowledge-base-wide value, such as the embedding model that built it."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a knowledge-base-wide value."""
        with self._transaction() as db:
            db.execute(_SET_META, (key, value))
