"""A real ``kb serve`` with a small knowledge base and the real default models, and Debian's Chromium.

The browser is the system's ``/usr/bin/chromium`` driven by the Python ``playwright`` package (``.ci/setup``
installs both); nothing is downloaded. Without them these tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.servers import run_local_server

REPO = Path(__file__).resolve().parents[2]
#: A document whose text is markup: it must show as text and never run.
HOSTILE = (
    "Security note: the vault code is 4711.\n"
    "<script>window.__pwned = 1</script>\n"
    '<img src="x" onerror="window.__pwned = 2">\n'
)

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.is_file():
    pytest.skip("Debian's chromium is not installed (.ci/setup installs it)", allow_module_level=True)


class LiveServer:
    """``kb serve`` as a subprocess on a home of its own; ``restart`` stops it and starts it again."""

    def __init__(self, home: Path, log_dir: Path, **env: str) -> None:
        """Prepare (not start) a server over ``home``; ``env`` adds settings (``KB_...``)."""
        self.home = home
        self.log_dir = log_dir
        self.env = {**os.environ, "KB_HOME": str(home), **env}
        self._stack = ExitStack()
        self._starts = 0
        self.url = ""

    def start(self) -> None:
        """Start the server and wait until ``/health`` answers."""
        self._starts += 1
        argv = [sys.executable, "-m", "kb", "serve", "--host", "127.0.0.1", "--port", "{port}"]
        log = self.log_dir / f"serve-{self._starts}.log"
        self.url = self._stack.enter_context(run_local_server(argv, "/health", log_path=log, env=self.env))

    def stop(self) -> None:
        """Stop the server (SIGTERM, then wait)."""
        self._stack.close()
        self._stack = ExitStack()

    def restart(self) -> None:
        """Stop and start again on the same home."""
        self.stop()
        self.start()

    def health(self) -> dict[str, Any]:
        """The server's ``/health``."""
        response = httpx.get(f"{self.url}/health", timeout=5)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with knowledge base ``docs``: kb's sample documents and one document of markup."""
    root = tmp_path_factory.mktemp("web")
    docs = root / "docs"
    shutil.copytree(REPO / "data" / "docs", docs)
    (docs / "security-note.txt").write_text(HOSTILE, encoding="utf-8")
    live = LiveServer(root / "home", root)
    subprocess.run(
        [sys.executable, "-m", "kb", "ingest", str(docs), "--kb", "docs"],
        env=live.env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless.

    Module-scoped: playwright's sync API runs an event loop in this thread while it is open, which would
    break every asyncio test that runs after it.
    """
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh English page (its own storage) that fails the test on any script error."""
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


#: Lines about the browser run, printed at the end (CI's log shows that the browser ran, and how fast).
BROWSER_REPORT = pytest.StashKey[list[str]]()


def report_line(config: pytest.Config, line: str) -> None:
    """Add a line to the browser run's summary."""
    config.stash.setdefault(BROWSER_REPORT, []).append(line)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the browser tests' outcomes, what they measured and the browser's version."""
    outcomes = [
        f"{outcome:7} {report.nodeid.rsplit('::', 1)[-1]} ({report.duration:.1f}s)"
        for outcome in ("passed", "failed", "skipped")
        for report in terminalreporter.stats.get(outcome, [])
        if "tests/browser/" in report.nodeid and getattr(report, "when", "call") == "call"
    ]
    lines = outcomes + config.stash.get(BROWSER_REPORT, [])
    if not lines:
        return
    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, check=False).stdout
    terminalreporter.section(f"web page in {version.strip() or CHROMIUM}")
    for line in lines:
        terminalreporter.write_line(line)
