"""``kb ingest FOLDER --watch`` as a real process on a real folder: the index follows the folder."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kb import Workspace
from kb.settings import Settings
from rag.embeddings import E5Embeddings

pytestmark = pytest.mark.slow

SETTLE_S = 0.3


class Watcher:
    """A ``kb ingest --watch --json`` process and the rounds it reports, one JSON line each."""

    def __init__(self, home: Path, docs: Path) -> None:
        env = {**os.environ, "KB_HOME": str(home), "KB_INGEST__CHUNK_SIZE": "80"}
        argv = [sys.executable, "-m", "kb", "ingest", str(docs), "--kb", "w", "--watch", "--json"]
        self.process = subprocess.Popen(
            [*argv, "--settle", str(SETTLE_S)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.rounds: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.rounds.put(json.loads(line))

    def until(self, **expected: str) -> list[dict[str, Any]]:
        """Rounds up to the one where every ``key=source`` was seen (e.g. added="b.txt")."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        missing = dict(expected)
        while missing:
            try:
                report = self.rounds.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                stderr = self.stop()
                pytest.fail(f"no round with {missing} (saw {seen}); stderr: {stderr[-2000:]}")
            seen.append(report)
            missing = {key: source for key, source in missing.items() if source not in report[key]}
        return seen

    def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        time.sleep(seconds)
        drained: list[dict[str, Any]] = []
        while not self.rounds.empty():
            drained.append(self.rounds.get())
        return drained

    def stop(self, sig: signal.Signals = signal.SIGINT) -> str:
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=60)
        return stderr


def _indexed(home: Path, e5: E5Embeddings) -> dict[str, str]:
    """Source → its indexed text; also checks store, BM25 and manifest hold exactly the same chunks."""
    workspace = Workspace(settings=Settings(home=home), embeddings=e5)
    try:
        kb = workspace.open("w")
        owned = kb._manifest.owned_ids()
        assert kb._index.store.all_ids() == owned
        assert kb._index.lexical.ids() == owned
        texts: dict[str, str] = {}
        for record in kb._manifest.records().values():
            chunks = kb._index.store.texts(record.chunk_ids)
            texts[record.source] = " ".join(chunks[i][0] for i in record.chunk_ids)
        return texts
    finally:
        workspace.close()


def test_created_edited_moved_deleted_and_half_written_files_are_applied(
    tmp_path: Path, e5: E5Embeddings
) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nThe alpha reactor runs at 42 kelvin.\n", encoding="utf-8")
    watcher = Watcher(home, docs)
    watcher.until(added="a.md")

    (docs / "b.txt").write_text("Bees make honey in hives.\n", encoding="utf-8")
    watcher.until(added="b.txt")
    (docs / "b.txt").write_text("Bees make honey in hives. Wasps do not.\n", encoding="utf-8")
    watcher.until(updated="b.txt")
    (docs / "b.txt").rename(docs / "c.txt")
    watcher.until(added="c.txt", removed="b.txt")
    (docs / "a.md").unlink()
    watcher.until(removed="a.md")

    # A slow copy: a line every 0.1 s for 2.5 s, far longer than the settle time. It must be read once, whole.
    with (docs / "slow.txt").open("w", encoding="utf-8") as handle:
        for n in range(25):
            handle.write(f"Line {n} of a file that is still being written.\n")
            handle.flush()
            time.sleep(0.1)
        handle.write("END-MARKER\n")
    rounds = watcher.until(added="slow.txt")
    later = watcher.quiet_for(SETTLE_S * 6)
    assert not [r for r in rounds + later if "slow.txt" in r["updated"]], "slow.txt was read half-way"
    watcher.stop()
    assert watcher.process.returncode in (0, -signal.SIGINT)

    texts = _indexed(home, e5)
    assert set(texts) == {"c.txt", "slow.txt"}
    assert "Wasps do not" in texts["c.txt"]
    assert "END-MARKER" in texts["slow.txt"]


def test_a_watcher_killed_mid_ingest_converges_on_restart(tmp_path: Path, e5: E5Embeddings) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    docs.mkdir()
    (docs / "small.md").write_text("# Small\n\nA small file.\n", encoding="utf-8")
    watcher = Watcher(home, docs)
    watcher.until(added="small.md")
    for n in range(6):  # several batches of work, so the kill lands inside an ingest round
        lines = [f"Report {n}, entry {i}: sensor {i * 7 + n} read {i * 3.5:.1f} degrees." for i in range(120)]
        (docs / f"big{n}.txt").write_text("\n\n".join(lines), encoding="utf-8")
    manifest = home / "kbs" / "w" / "manifest.sqlite3"
    deadline = time.monotonic() + 60
    while len(_indexed_sources(manifest)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)  # two of the big files are in: the round is in the middle of the rest
    watcher.stop(signal.SIGKILL)

    killed_with = _indexed_sources(manifest)
    assert len(killed_with) < 7, "the round finished before the kill; make the files larger"

    restarted = Watcher(home, docs)
    deadline = time.monotonic() + 120
    while len(_indexed_sources(manifest)) < 7 and time.monotonic() < deadline:
        time.sleep(0.1)
    restarted.stop()
    texts = _indexed(home, e5)
    assert set(texts) == {"small.md", *(f"big{n}.txt" for n in range(6))}
    assert "sensor 838 read 416.5 degrees" in texts["big5.txt"]


def _indexed_sources(manifest: Path) -> set[str]:
    """Sources the manifest has committed, read without opening the knowledge base."""
    import sqlite3

    with sqlite3.connect(manifest, timeout=5) as db:
        return {row[0] for row in db.execute("SELECT source FROM files WHERE status='indexed'")}
