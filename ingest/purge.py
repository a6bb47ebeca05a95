"""Deleting removed documents' rows from the vector store on a worker thread, a batch at a time.

Removal itself is quick (``Ingestor.remove`` hides the chunks); the store's own deletes are slow, so they run
here. Chroma holds the GIL while it deletes, so a search in another thread waits for the batch in progress:
batches are kept small and the worker rests as long as each batch took, which bounds that wait to one batch
and leaves half the time to searches. Nothing rests while someone is waiting for the purge to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.pipeline import Ingestor

__all__ = ["BackgroundPurge"]

logger = logging.getLogger(__name__)

_MAX_REST_S = 1.0


class BackgroundPurge:
    """One knowledge base's purge worker: started on demand, exits when nothing is left to delete."""

    def __init__(self, ingestor: Ingestor, write_lock: threading.Lock, *, batch_size: int = 500) -> None:
        """Purge through ``ingestor``, holding ``write_lock`` (the knowledge base's) for each batch."""
        self._ingestor = ingestor
        self._write_lock = write_lock
        self._batch_size = batch_size
        self._state = threading.Lock()
        self._wanted = False
        self._stopping = False
        self._hurry = threading.Event()
        self._thread: threading.Thread | None = None

    def schedule(self) -> None:
        """Make sure a worker runs until the retired list is empty."""
        with self._state:
            if self._stopping:
                return
            self._wanted = True
            if self._thread is None:
                self._hurry.clear()
                self._thread = threading.Thread(target=self._run, name="kb-purge", daemon=True)
                self._thread.start()

    def wait(self) -> None:
        """Block until the worker has nothing left to do (it stops resting between batches)."""
        with self._state:
            thread = self._thread
            self._hurry.set()
        if thread is not None:
            thread.join()

    def stop(self) -> None:
        """Stop after the current batch and refuse new work (the rest resumes when the store is next opened)."""
        with self._state:
            self._stopping = True
        self.wait()

    def _run(self) -> None:
        while True:
            with self._state:
                if self._stopping or not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            while not self._stopping:
                started = time.perf_counter()
                try:
                    with self._write_lock:
                        purged = self._ingestor.purge(batch_size=self._batch_size, limit=self._batch_size)
                except Exception:
                    # The rows stay retired and hidden; the next ingest or open retries.
                    logger.exception("purge failed")
                    break
                if purged == 0:
                    break
                self._hurry.wait(min(time.perf_counter() - started, _MAX_REST_S))
