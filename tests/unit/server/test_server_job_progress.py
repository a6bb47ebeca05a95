"""An upload job's byte count: it moves while a big file embeds, and never backwards."""

from __future__ import annotations

import threading

from server.jobs import _Job as Job


def test_bytes_done_runs_ahead_while_a_big_file_embeds_and_never_goes_back() -> None:
    job = Job("kb", ["small.md", "big.txt"], stopping=threading.Event(), store=None)
    job.start(2, 1_100)
    job.file_done("small.md", 1, 100)
    assert job.snapshot().bytes_done == 100

    seen = []
    for done in (64, 128, 192):
        job.embedding(done, 256, 1_000)
        seen.append(job.snapshot().bytes_done)
    job.file_done("big.txt", 256, 1_000)

    assert seen == [350, 600, 850]
    assert job.snapshot().bytes_done == 1_100
    assert job.snapshot().files_done == 2
