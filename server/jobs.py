"""Background ingest jobs: uploads are indexed one job at a time in a worker thread, with pollable progress.

With a ``JobStore`` every job is on disk from before its 202 until it is done: a server killed mid-job runs
it again on its next start (``resume``), and one asked to stop (SIGTERM) ends the running job after its
current batch, leaving it queued for the next start rather than holding shutdown for the whole job.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from server.job_store import JobStore
from server.schemas import FileFailureBody, IngestJob, IngestSummary

if TYPE_CHECKING:
    from kb import KnowledgeBase, Workspace

__all__ = ["IngestJobs", "JobNotFound"]

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed"]


class JobNotFound(LookupError):
    """No job with that id (it never existed, belongs to another knowledge base, or was forgotten)."""


class _Job:
    """Mutable state of one job; read through ``snapshot`` under its lock."""

    def __init__(
        self,
        kb: str,
        files: list[str],
        *,
        stopping: threading.Event,
        store: JobStore | None,
        job_id: str | None = None,
        created: float | None = None,
    ) -> None:
        self.id = job_id or uuid.uuid4().hex[:16]
        self.kb = kb
        self.files = files
        self.status: JobStatus = "queued"
        self.files_total = len(files)
        self.files_done = 0
        self.bytes_total = 0
        self.bytes_done = 0
        self.chunks = 0
        self.error = ""
        self.result: IngestSummary | None = None
        self.created = created or time.time()
        self.finished: float | None = None
        self.lock = threading.Lock()
        self._stopping = stopping
        self._store = store
        self._committed = 0  # bytes of finished files; bytes_done may run ahead while one embeds

    def persist(self) -> None:
        if self._store is not None:
            self._store.save(self.snapshot())

    # IngestProgress protocol: called from the ingest thread.
    def start(self, files: int, total_bytes: int) -> None:
        with self.lock:
            self.files_total = files
            self.bytes_total = total_bytes

    def file_done(self, source: str, chunks: int, size: int) -> None:
        with self.lock:
            self.files_done += 1
            self._committed += size
            self.bytes_done = max(self.bytes_done, self._committed)
            self.chunks += chunks
        self.persist()

    def embedding(self, done: int, total: int, size: int) -> None:
        with self.lock:  # a big file moves the bar while it embeds, before it is done
            self.bytes_done = max(self.bytes_done, self._committed + size * done // max(total, 1))

    def cancelled(self) -> bool:
        return self._stopping.is_set()

    def snapshot(self) -> IngestJob:
        with self.lock:
            return IngestJob(
                id=self.id,
                kb=self.kb,
                status=self.status,
                files=list(self.files),
                files_total=self.files_total,
                files_done=self.files_done,
                bytes_total=self.bytes_total,
                bytes_done=self.bytes_done,
                chunks=self.chunks,
                error=self.error,
                result=self.result,
                created=self.created,
                finished=self.finished,
            )


class IngestJobs:
    """Runs ingest jobs in one background thread (embedding saturates the CPU anyway) and remembers them."""

    def __init__(self, *, max_jobs: int = 500, store: JobStore | None = None) -> None:
        """Create the job runner.

        Args:
            max_jobs: finished jobs remembered for polling; the oldest finished ones are forgotten first.
            store: where jobs are kept across restarts; None keeps them in memory only.
        """
        self.max_jobs = max_jobs
        self._store = store
        self._stopping = threading.Event()
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-ingest")

    def submit(self, kb: KnowledgeBase, directory: Path, files: list[Path]) -> IngestJob:
        """Queue an ingest of ``files`` (already saved under ``directory``) into ``kb``; on disk when this returns."""
        job = _Job(kb.name, [f.name for f in files], stopping=self._stopping, store=self._store)
        job.persist()
        self._enqueue(job, kb, directory, files)
        return job.snapshot()

    def resume(self, workspace: Workspace) -> int:
        """Queue again the jobs a previous server left queued or running; returns how many.

        Their files are still in the knowledge base's uploads folder, and files indexed before the stop
        cost a ``stat`` each on the rerun.
        """
        if self._store is None:
            return 0
        resumed = 0
        for saved in self._store.unfinished():
            job = _Job(
                saved.kb,
                saved.files,
                stopping=self._stopping,
                store=self._store,
                job_id=saved.id,
                created=saved.created,
            )
            try:
                kb = workspace.open(saved.kb)
            except Exception as e:  # a knowledge base deleted meanwhile: the job cannot run again
                with job.lock:
                    job.status, job.error, job.finished = "failed", f"{type(e).__name__}: {e}", time.time()
                job.persist()
                continue
            directory = kb.uploads_directory
            files = [directory / name for name in saved.files if (directory / name).exists()]
            self._enqueue(job, kb, directory, files)
            resumed += 1
        if resumed:
            logger.info("ingest jobs resumed jobs=%d", resumed)
        return resumed

    def _enqueue(self, job: _Job, kb: KnowledgeBase, directory: Path, files: list[Path]) -> None:
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
            self._futures[job.id] = self._executor.submit(self._run, job, kb, directory, files)
        logger.info("ingest job queued job=%s kb=%s files=%d", job.id, kb.name, len(files))

    def get(self, kb: str, job_id: str) -> IngestJob:
        """The job's current state.

        Raises:
            JobNotFound: no such job in that knowledge base.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        found = job.snapshot() if job is not None else self._store.get(job_id) if self._store else None
        if found is None or found.kb != kb:
            raise JobNotFound(f"knowledge base {kb!r} has no job {job_id!r}")
        return found

    async def wait(self, kb: str, job_id: str) -> IngestJob:
        """Wait until the job has finished and return its final state.

        Raises:
            JobNotFound: no such job in that knowledge base.
        """
        self.get(kb, job_id)
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            await asyncio.wrap_future(future)
        return self.get(kb, job_id)

    def shutdown(self) -> None:
        """Stop the running job after its current batch and drop queued ones; on disk, both wait for the next start."""
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.close()

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.status in ("done", "failed")]
        for key in finished[: max(0, len(self._jobs) - self.max_jobs)]:
            del self._jobs[key]
            self._futures.pop(key, None)
        if self._store is not None:
            self._store.forget_finished(self.max_jobs)

    def _run(self, job: _Job, kb: KnowledgeBase, directory: Path, files: list[Path]) -> None:
        with job.lock:
            job.status = "running"
        job.persist()
        try:
            report = kb.ingest(directory, files=files, delete_missing=False, progress=job)
        except Exception as e:  # a job is a boundary: record the failure for the poller
            logger.exception("ingest job failed job=%s kb=%s", job.id, job.kb)
            with job.lock:
                job.status, job.error, job.finished = "failed", f"{type(e).__name__}: {e}", time.time()
            job.persist()
            return
        if report.stopped:
            logger.info(
                "ingest job stopped for shutdown job=%s kb=%s; it resumes on the next start", job.id, job.kb
            )
            return
        summary = IngestSummary(
            added=report.added,
            updated=report.updated,
            unchanged=report.unchanged,
            failed=[FileFailureBody(source=f.source, reason=f.reason) for f in report.failed],
            chunks_written=report.chunks_written,
            seconds=round(report.seconds, 3),
        )
        with job.lock:
            job.status, job.result, job.finished = "done", summary, time.time()
        job.persist()
        logger.info(
            "ingest job done job=%s kb=%s added=%d updated=%d failed=%d chunks=%d",
            job.id,
            job.kb,
            len(report.added),
            len(report.updated),
            len(report.failed),
            report.chunks_written,
        )
