"""Kill a real ``kb ingest`` mid-run, then run it again: the stores must equal the manifest exactly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb import Workspace
from kb.settings import Settings
from rag.embeddings import E5Embeddings

pytestmark = pytest.mark.slow

FILES = 12


def _make_docs(root: Path) -> None:
    root.mkdir(parents=True)
    for i in range(FILES):
        paragraphs = [
            f"Document {i}, paragraph {p}: the value of item {i}-{p} is {i * 100 + p}." for p in range(8)
        ]
        (root / f"doc{i:02d}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")


def _committed(manifest: Path) -> int:
    if not manifest.exists():
        return 0
    try:
        with sqlite3.connect(manifest, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM files WHERE status='indexed'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _run_ingest(home: Path, docs: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KB_HOME": str(home),
        "KB_INGEST__CHUNK_SIZE": "80",
        "KB_INGEST__EMBED_BATCH_SIZE": "8",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kb", "ingest", str(docs), "--kb", "crash"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_ingest_converges(tmp_path: Path, sig: signal.Signals, e5: E5Embeddings) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    _make_docs(docs)
    manifest = home / "kbs" / "crash" / "manifest.sqlite3"

    process = _run_ingest(home, docs)
    deadline = time.monotonic() + 120
    while _committed(manifest) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "ingest finished before it could be interrupted; make the corpus larger"
    process.send_signal(sig)
    process.wait(timeout=60)
    assert 0 < _committed(manifest) < FILES

    # Opened straight after the kill, before any rerun: keyword search holds exactly what was committed.
    killed = Workspace(settings=Settings(home=home), embeddings=e5)
    opened = killed.open("crash")
    assert opened._index.lexical.ids() == opened._manifest.owned_ids()
    killed.close()

    finished = _run_ingest(home, docs)
    _, stderr = finished.communicate(timeout=300)
    assert finished.returncode == 0, stderr.decode()

    workspace = Workspace(settings=Settings(home=home), embeddings=e5)
    kb = workspace.open("crash")
    owned = kb._manifest.owned_ids()
    assert len(kb._manifest.records()) == FILES
    assert all(r.status == "indexed" for r in kb._manifest.records().values())
    assert kb._index.store.all_ids() == owned
    assert kb._index.lexical.ids() == owned
    # Every chunk id is unique to one file: no duplicates across files.
    per_file = [set(r.chunk_ids) for r in kb._manifest.records().values()]
    assert sum(len(ids) for ids in per_file) == len(owned)
    workspace.close()
