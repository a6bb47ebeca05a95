"""Logging configuration for kb's entry points (never applied at import)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["configure_logging"]

_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"


class _CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap and close it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """The stream is always the current stderr; assignments from logging's internals are ignored."""


def configure_logging(*, verbose: bool = False) -> None:
    """Send kb's logs to stderr as key=value lines: warnings only unless ``verbose``.

    kb's loggers keep propagating, so an application's own root handlers (and pytest's caplog) still
    see the records; kb adds its handler only where the root logger has none.
    """
    level = logging.INFO if verbose else logging.WARNING
    handlers: list[logging.Handler] = []
    if not logging.getLogger().handlers:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handlers.append(handler)
    for name in ("kb", "ingest", "rag", "server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
    # Third-party libraries stay quiet unless they fail.
    for name in ("chromadb", "httpx", "jieba", "unstructured"):
        logging.getLogger(name).setLevel(logging.ERROR)
