"""kb's HTTP server: ``create_app`` builds the FastAPI app, ``run`` serves it with uvicorn (``kb serve``)."""

from __future__ import annotations

from server.app import create_app
from server.runner import run

__all__ = ["create_app", "run"]
