"""``run``: serve kb with uvicorn, as ``kb serve`` does."""

from __future__ import annotations

import logging

import uvicorn

from kb.logging_setup import configure_logging
from kb.settings import Settings
from server.app import create_app

__all__ = ["run"]


def run(settings: Settings, *, verbose: bool = False) -> None:
    """Serve the API on ``settings.server.host:port`` until interrupted.

    Logs go to stderr as key=value lines; the ``server.access`` log (one line per request) is always on.
    One process serves everyone: there is one chat model per process, so never run several workers.

    Args:
        settings: kb settings; the server section sets the address, keys, CORS and limits.
        verbose: log progress details as well as warnings.
    """
    configure_logging(verbose=verbose)
    logging.getLogger("server.access").setLevel(logging.INFO)
    # uvicorn's own lines (address, startup, shutdown) through kb's handler.
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.handlers[:] = logging.getLogger("server").handlers
    uvicorn_logger.setLevel(logging.INFO)
    uvicorn_logger.propagate = not uvicorn_logger.handlers
    app = create_app(settings=settings)
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,  # keep kb's logging configuration
        access_log=False,  # server.access replaces uvicorn's access log
        timeout_graceful_shutdown=10,
    )
