"""Background ingest jobs: uploads are indexed one job at a time in a worker thread, with pollable progress."""

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

from server.schemas import FileFailureBody, IngestJob, IngestSummary

if TYPE_CHECKING:
    from kb import KnowledgeBase

__all__ = ["IngestJobs", "JobNotFound"]

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed"]


class JobNotFound(LookupError):
    """No job with that id (it never existed, belongs to another knowledge base, or was forgotten)."""


class _Job:
    """Mutable state of one job; read through ``snapshot`` under its lock."""

    def __init__(self, kb: str, files: list[str]) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.kb = kb
        self.files = files
        self.status: JobStatus = "queued"
        self.files_total = len(files)
        self.files_done = 0
        self.chunks = 0
        self.error = ""
        self.result: IngestSummary | None = None
        self.created = time.time()
        self.finished: float | None = None
        self.lock = threading.Lock()

    # IngestProgress protocol: called from the ingest thread.
    def start(self, files: int) -> None:
        with self.lock:
            self.files_total = files

    def file_done(self, source: str, chunks: int) -> None:
        with self.lock:
            self.files_done += 1
            self.chunks += chunks

    def snapshot(self) -> IngestJob:
        with self.lock:
            return IngestJob(
                id=self.id,
                kb=self.kb,
                status=self.status,
                files=list(self.files),
                files_total=self.files_total,
                files_done=self.files_done,
                chunks=self.chunks,
                error=self.error,
                result=self.result,
                created=self.created,
                finished=self.finished,
            )


class IngestJobs:
    """Runs ingest jobs in one background thread (embedding saturates the CPU anyway) and remembers them."""

    def __init__(self, *, max_jobs: int = 500) -> None:
        """Create the job runner.

        Args:
            max_jobs: finished jobs remembered for polling; the oldest finished ones are forgotten first.
        """
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-ingest")

    def submit(self, kb: KnowledgeBase, directory: Path, files: list[Path]) -> IngestJob:
        """Queue an ingest of ``files`` (already saved under ``directory``) into ``kb``."""
        job = _Job(kb.name, [f.name for f in files])
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
            self._futures[job.id] = self._executor.submit(self._run, job, kb, directory, files)
        logger.info("ingest job queued job=%s kb=%s files=%d", job.id, kb.name, len(files))
        return job.snapshot()

    def get(self, kb: str, job_id: str) -> IngestJob:
        """The job's current state.

        Raises:
            JobNotFound: no such job in that knowledge base.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kb != kb:
            raise JobNotFound(f"knowledge base {kb!r} has no job {job_id!r}")
        return job.snapshot()

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
        """Finish the running job, drop queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.status in ("done", "failed")]
        for key in finished[: max(0, len(self._jobs) - self.max_jobs)]:
            del self._jobs[key]
            self._futures.pop(key, None)

    def _run(self, job: _Job, kb: KnowledgeBase, directory: Path, files: list[Path]) -> None:
        with job.lock:
            job.status = "running"
        try:
            report = kb.ingest(directory, files=files, delete_missing=False, progress=job)
        except Exception as e:  # a job is a boundary: record the failure for the poller
            logger.exception("ingest job failed job=%s kb=%s", job.id, job.kb)
            with job.lock:
                job.status, job.error, job.finished = "failed", f"{type(e).__name__}: {e}", time.time()
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
        logger.info(
            "ingest job done job=%s kb=%s added=%d updated=%d failed=%d chunks=%d",
            job.id,
            job.kb,
            len(report.added),
            len(report.updated),
            len(report.failed),
            report.chunks_written,
        )
