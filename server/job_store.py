"""Ingest jobs on disk (SQLite under ``KB_HOME``): an accepted upload survives a kill, and so does its job.

A job is written before the upload is answered with 202 and again as each file finishes, so after a
crash or a restart the server knows which jobs to run again and pollers still find finished ones.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from server.schemas import IngestJob

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kb TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    body TEXT NOT NULL
)
"""


class JobStore:
    """Jobs as JSON rows, keyed by id; safe to use from the ingest thread and the event loop."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the job table at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def save(self, job: IngestJob) -> None:
        """Insert or replace ``job``."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (id, kb, status, created, body) VALUES (?, ?, ?, ?, ?)",
                (job.id, job.kb, job.status, job.created, job.model_dump_json()),
            )

    def get(self, job_id: str) -> IngestJob | None:
        """The stored job, if any."""
        with self._lock:
            row = self._db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else IngestJob.model_validate_json(row[0])

    def unfinished(self) -> list[IngestJob]:
        """Jobs that were queued or running when the server last stopped, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM jobs WHERE status IN ('queued', 'running') ORDER BY created"
            ).fetchall()
        return [IngestJob.model_validate_json(row[0]) for row in rows]

    def forget_finished(self, keep: int) -> None:
        """Drop all but the ``keep`` newest finished jobs."""
        with self._lock:
            self._db.execute(
                "DELETE FROM jobs WHERE status IN ('done', 'failed') AND id NOT IN ("
                "SELECT id FROM jobs WHERE status IN ('done', 'failed') ORDER BY created DESC LIMIT ?)",
                (keep,),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
