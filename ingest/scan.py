"""Which files an ingest run looks at: a folder walked in a stable order, or the files a caller names."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kbtypes.results import FileFailure

__all__ = ["Candidate", "inspect", "listed", "scan"]


@dataclass(frozen=True)
class Candidate:
    """A file to consider, with what its manifest record is compared against."""

    path: Path
    source: str
    size: int
    mtime_ns: int


def inspect(path: Path, base: Path, *, inside: Path | None) -> Candidate | FileFailure:
    """A candidate for a regular file, or why the entry is skipped, without ever opening it.

    Args:
        path: the directory entry.
        base: sources are relative to it.
        inside: where a symbolic link may lead (the real path of the ingested folder); None allows anywhere.
    """
    source = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
    try:
        status = os.lstat(path)
        if stat.S_ISLNK(status.st_mode):
            try:
                status = os.stat(path)
            except OSError:
                return FileFailure(
                    source, "skipped: a broken symbolic link (what it points to does not exist)"
                )
            target = Path(os.path.realpath(path))
            if inside is not None and not target.is_relative_to(inside):
                return FileFailure(
                    source, f"skipped: a symbolic link to {target}, outside the ingested folder"
                )
    except FileNotFoundError:
        return FileFailure(source, "the file is gone: it was deleted before it was read")
    except OSError as e:
        return FileFailure(source, f"cannot read file: {e.strerror or e}")
    if not stat.S_ISREG(status.st_mode):
        return FileFailure(source, f"skipped: not a regular file ({_kind(status.st_mode)})")
    return Candidate(path=path, source=source, size=status.st_size, mtime_ns=status.st_mtime_ns)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a special file"


def scan(root: Path, base: Path, *, follow_outside_links: bool = False) -> Iterator[Candidate | FileFailure]:
    """Every file under ``root`` (or ``root`` itself), sorted, hidden files and folders skipped.

    The folder is a boundary: a symbolic link that leads outside it is skipped and reported (unless
    ``follow_outside_links``), so are pipes, sockets, devices and dangling links; linked folders are not
    entered (os.walk does not follow them). Nothing is opened here.
    """
    inside = None if follow_outside_links else Path(os.path.realpath(root if root.is_dir() else root.parent))
    if not root.is_dir():
        yield inspect(root, base, inside=inside)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # linked folders are not entered
        for name in sorted(filenames):
            if not name.startswith("."):
                yield inspect(here / name, base, inside=inside)


def listed(files: Sequence[Path], base: Path) -> list[Candidate | FileFailure]:
    """Candidates for the files a caller named (each checked like a scanned one, inside ``base``)."""
    inside = Path(os.path.realpath(base))
    return [inspect(Path(os.path.abspath(name)), base, inside=inside) for name in files]
