"""Contained parsing: every file is read in a separate process with a time, memory and output limit.

A hostile or broken document (a zip bomb, a parser stuck in a loop, a 2 GB sparse text file) can only
exhaust its own worker: the worker is killed, the file is reported by name with the limit it hit, a new
worker takes the next file and the rest of the batch lands. The worker also runs beside the embedder
rather than under the parent's GIL.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from ingest.parse_worker import read_frame, write_frame
from kbtypes.errors import IngestError, UnsupportedFileType

__all__ = ["ContainedParser", "ParseLimits"]

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost to parse (``KB_INGEST__*`` settings)."""

    timeout_s: float = 120.0
    memory_mb: int = 2048
    max_chars: int = 20_000_000
    max_archive_mb: int = 1024
    max_archive_members: int = 20_000


class ContainedParser:
    """A parser process used for one file at a time, restarted after a limit killed it; thread-safe."""

    def __init__(self, limits: ParseLimits) -> None:
        """Nothing starts until the first file needs reading."""
        self.limits = limits
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def load(self, path: Path) -> list[Document]:
        """The file's text blocks, as ``ingest.loaders.load_file`` returns them, parsed in the worker.

        Raises:
            IngestError: the loader refused the file, or parsing hit a limit or killed the worker.
        """
        request = {
            "path": str(path),
            "max_chars": self.limits.max_chars,
            "max_archive_mb": self.limits.max_archive_mb,
            "max_archive_members": self.limits.max_archive_members,
        }
        with self._lock:
            reply = self._ask(request)
        if "error" in reply:
            error = UnsupportedFileType if reply.get("unsupported") else IngestError
            raise error(str(reply["error"]))
        return [Document(page_content=block["text"], metadata=block["metadata"]) for block in reply["blocks"]]

    def close(self) -> None:
        """Stop the worker (a new one starts if the parser is used again)."""
        with self._lock:
            self._stop()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._worker()
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            write_frame(process.stdin, request)
        except OSError:
            return self._died(process)
        while True:  # a scanned document reports each page: the limit applies to one step of work
            if not _readable(process.stdout, self.limits.timeout_s):
                self._stop()
                raise IngestError(
                    f"parsing took longer than {self.limits.timeout_s:g} s (KB_INGEST__PARSE_TIMEOUT_S); "
                    "the parser was stopped"
                )
            reply = read_frame(process.stdout)
            if reply is None:
                return self._died(process)
            if not reply.get("progress"):
                return reply

    def _died(self, process: subprocess.Popen[bytes]) -> dict[str, Any]:
        code = process.wait()
        self._process = None
        if code < 0 and -code in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS):
            how = f"signal {signal.Signals(-code).name}"
        else:
            how = f"exit code {code}"
        reason = f"the parser process died ({how}); with a {self.limits.memory_mb} MB memory limit"
        raise IngestError(f"{reason} (KB_INGEST__PARSE_MEMORY_MB)")

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.parse_worker", str(self.limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert process.stdout is not None
        if not _readable(process.stdout, _START_TIMEOUT_S) or read_frame(process.stdout) != {"ready": True}:
            process.kill()
            process.wait()
            raise IngestError("the parser process did not start")
        logger.debug("parser started pid=%d memory_mb=%d", process.pid, self.limits.memory_mb)
        self._process = process
        return process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _readable(stream: Any, timeout_s: float) -> bool:
    # poll, not select: select() refuses descriptors numbered 1024 and up, which a long-lived process
    # embedding kb (a server, a test session) can reach.
    poller = select.poll()
    poller.register(stream, select.POLLIN | select.POLLHUP)
    return bool(poller.poll(max(0.0, timeout_s) * 1000))
