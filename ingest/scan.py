"""Which files an ingest run looks at: a folder walked in a stable order, or the files a caller names."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kbtypes.results import FileFailure

__all__ = ["Candidate", "candidate", "listed", "scan"]


@dataclass(frozen=True)
class Candidate:
    """A file to consider, with what its manifest record is compared against."""

    path: Path
    source: str
    size: int
    mtime_ns: int


def candidate(path: Path, base: Path) -> Candidate:
    """``path`` as a candidate, its source relative to ``base``.

    Raises:
        FileNotFoundError: the file does not exist (any more).
    """
    stat = path.stat()
    return Candidate(
        path=path, source=path.relative_to(base).as_posix(), size=stat.st_size, mtime_ns=stat.st_mtime_ns
    )


def scan(root: Path, base: Path) -> Iterator[Candidate]:
    """Every file under ``root`` (or ``root`` itself), sorted, hidden files and folders skipped."""
    if root.is_file():
        yield candidate(root, base)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield candidate(Path(dirpath) / name, base)


def listed(files: Sequence[Path], base: Path) -> tuple[list[Candidate], list[FileFailure]]:
    """Candidates for the files a caller named; one deleted meanwhile is a failure of its own, not the run's."""
    found: list[Candidate] = []
    vanished: list[FileFailure] = []
    for name in files:
        path = Path(name).resolve()
        try:
            found.append(candidate(path, base))
        except FileNotFoundError:
            source = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
            vanished.append(FileFailure(source, "the file is gone: it was deleted before it was read"))
    return found, vanished
