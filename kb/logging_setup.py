"""Logging configuration for kb's entry points (never applied at import)."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"


def configure_logging(*, verbose: bool = False) -> None:
    """Send kb's logs to stderr as key=value lines: warnings only unless ``verbose``."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    level = logging.INFO if verbose else logging.WARNING
    for name in ("kb", "ingest", "rag", "server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # Third-party libraries stay quiet unless they fail.
    for name in ("chromadb", "httpx", "jieba", "unstructured"):
        logging.getLogger(name).setLevel(logging.ERROR)
