"""Keep a knowledge base equal to a folder: apply created, changed, moved and deleted files as they settle.

File events come from ``watchfiles`` (inotify on Linux). A burst of events is handled once it has been
quiet for ``settle_s``, and only after every changed file has kept its size and mtime for another
``settle_s``, so a file still being copied is not read half-way. Each round is a normal incremental
ingest of the whole folder: unchanged files cost a ``stat``, moved files reuse their vectors by content
hash, deleted ones leave the index, and a crash in the middle converges on the next round or restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kbtypes.errors import IngestError
from kbtypes.results import IngestReport

__all__ = ["keep_in_sync", "settled_changes"]

logger = logging.getLogger(__name__)

_LONGEST_WAIT_S = 60.0
"""A file written continuously for longer than this is read anyway; the next event re-reads it."""


def keep_in_sync(
    root: Path,
    ingest: Callable[[], IngestReport],
    on_report: Callable[[IngestReport], None],
    *,
    settle_s: float = 1.0,
    stop: threading.Event | None = None,
) -> None:
    """Ingest ``root`` once the watcher listens, then again after every settled change, until ``stop`` is set.

    Args:
        root: the folder being kept in sync.
        ingest: one incremental ingest of ``root`` (the knowledge base's own, with its locks and manifest).
        on_report: receives every round's report (the first one included).
        settle_s: quiet time before a burst of events is applied, and stability time for changed files.
        stop: ends the watch between rounds; Ctrl-C (KeyboardInterrupt) ends it too and propagates.

    Raises:
        IngestError: ``root`` is not a folder.
    """
    if not root.is_dir():
        raise IngestError(f"only a folder can be watched: {root}")
    for changed in settled_changes(root, settle_s=settle_s, stop=stop):
        if changed:
            logger.info("folder changed root=%s paths=%d", root, len(changed))
        on_report(ingest())


def settled_changes(
    root: Path, *, settle_s: float, stop: threading.Event | None = None
) -> Iterator[set[Path]]:
    """Sets of changed paths under ``root`` (hidden ones ignored), each yielded once its files stopped changing.

    The first item is an empty set, yielded as soon as the watcher is listening: a caller that indexes the
    folder then misses nothing written while it did.
    """
    from watchfiles import watch

    quiet_ms = max(50, int(settle_s * 1000))
    listening = False
    for changes in watch(
        root,
        step=quiet_ms,
        debounce=max(quiet_ms * 4, 1600),
        stop_event=stop,
        rust_timeout=quiet_ms,
        yield_on_timeout=True,
    ):
        if not listening:
            listening = True
            yield set()
        paths = {Path(path) for _, path in changes if not _hidden(Path(path), root)}
        if not paths:
            continue
        if not _wait_until_still(paths, settle_s, stop):
            return
        yield paths


def _hidden(path: Path, root: Path) -> bool:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    return any(part.startswith(".") for part in parts)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None  # deleted (or moved away): nothing left to wait for
    return status.st_size, status.st_mtime_ns


def _wait_until_still(paths: set[Path], settle_s: float, stop: threading.Event | None) -> bool:
    """Wait until no path changed size or mtime over ``settle_s``; False if ``stop`` was set meanwhile."""
    deadline = time.monotonic() + _LONGEST_WAIT_S
    before = {path: _signature(path) for path in paths}
    while True:
        if stop is not None:
            if stop.wait(settle_s):
                return False
        else:
            time.sleep(settle_s)
        after = {path: _signature(path) for path in paths}
        if after == before or time.monotonic() > deadline:
            return True
        logger.debug("waiting for files to settle paths=%d", sum(after[p] != before[p] for p in paths))
        before = after
