"""The FastAPI application: ``create_app`` assembles routers, middleware, error handlers and the lifespan."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib import metadata
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb import (
    ConfigError,
    ConversationNotFound,
    DocumentNotFound,
    EmbeddingMismatch,
    IngestError,
    KBError,
    KnowledgeBaseNotFound,
    ProviderUnavailable,
    Settings,
    UnsupportedFileType,
    Workspace,
    apply_offline_environment,
)
from kb.settings import ServerSettings
from server.access_log import RequestContextMiddleware
from server.deps import Services, ServicesDep, get_settings, require_api_key
from server.generation import GenerationQueue, QueueFull
from server.job_store import JobStore
from server.jobs import IngestJobs
from server.openai_schemas import OpenAIErrorBody
from server.request_body import BodyLimit, safe_validation_errors
from server.routes_ask import router as ask_router
from server.routes_chatglm import router as chatglm_router
from server.routes_conversations import router as conversations_router
from server.routes_documents import router as documents_router
from server.routes_kbs import router as kbs_router
from server.routes_openai import router as openai_router
from server.routes_web import PageFiles
from server.routes_web import router as web_router
from server.schemas import ErrorBody, Health
from server.streaming import ClientDisconnected

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: list[tuple[type[KBError], int]] = [
    (UnsupportedFileType, 415),
    (EmbeddingMismatch, 409),
    (KnowledgeBaseNotFound, 404),
    (DocumentNotFound, 404),
    (ConversationNotFound, 404),
    (ProviderUnavailable, 503),
    (IngestError, 400),
    (ConfigError, 400),
    (KBError, 400),
]
_MIB = 1 << 20


def _version() -> str:
    try:
        return metadata.version("kb")
    except metadata.PackageNotFoundError:  # running from a source checkout that was never installed
        return "0+source"


def create_app(workspace: Workspace | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the kb HTTP API.

    Args:
        workspace: the facade to serve; None builds one from ``settings`` when the app starts (and closes
            it when the app stops). A workspace passed in is left open for its owner to close.
        settings: server settings; None takes the workspace's, else ``get_settings()`` (environment).

    Returns:
        The FastAPI app; serve it with uvicorn, or drive it with ``TestClient`` inside ``with``.
    """
    apply_offline_environment()
    if settings is None:
        settings = workspace.settings if workspace is not None else get_settings()
    chosen = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = app.dependency_overrides.get(get_settings, get_settings)()
        built = workspace is None
        ws = (
            workspace
            if workspace is not None
            else await anyio.to_thread.run_sync(Workspace.from_settings, current)
        )
        services = Services(
            workspace=ws,
            queue=GenerationQueue(max_waiting=current.server.queue_size),
            conversations=ws.conversations(),
            jobs=IngestJobs(store=JobStore(ws.settings.home / "jobs.sqlite3")),
        )
        app.state.services = services
        await anyio.to_thread.run_sync(services.jobs.resume, ws)
        if built and current.server.preload_model:
            # In the background: the server answers health checks and lists at once, and the first question
            # (which would otherwise load the model before it even shows its sources) finds it loaded.
            threading.Thread(target=_preload, args=(ws,), name="kb-preload", daemon=True).start()
        logger.info("server ready kbs=%d queue_size=%d", len(ws.names()), current.server.queue_size)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(services.jobs.shutdown)
            services.conversations.close()
            if built:
                ws.close()

    # Swagger UI and ReDoc from files in the fastapi-offline package: /docs works on a machine with no network.
    app = FastAPIOffline(
        title="kb",
        version=_version(),
        summary="Question answering over local knowledge bases, with cited sources.",
        lifespan=lifespan,
    )
    app.dependency_overrides[get_settings] = lambda: chosen
    _add_exception_handlers(app)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(BodyLimit, limit_for=partial(_body_limit, settings.server), refuse=_refuse_body)
    app.add_middleware(RequestContextMiddleware)

    app.include_router(_health_router())
    app.include_router(web_router)
    app.mount("/web", PageFiles(), name="web")
    secured = [Depends(require_api_key)]
    for router in (
        kbs_router,
        documents_router,
        conversations_router,
        ask_router,
        openai_router,
        chatglm_router,
    ):
        body = OpenAIErrorBody if router is openai_router else ErrorBody
        unauthorized: dict[int | str, dict[str, Any]] = {
            401: {"model": body, "description": "Missing or invalid API key."}
        }
        app.include_router(router, dependencies=secured, responses=unauthorized)
    return app


def _preload(workspace: Workspace) -> None:
    started = time.perf_counter()
    try:
        workspace.chat_model()
    except KBError as e:  # no model configured, or it cannot load: the first question reports it
        logger.warning("chat model not preloaded error=%s", e)
        return
    logger.info("chat model loaded seconds=%.1f", time.perf_counter() - started)


def _refuse_body(request: Request, error: StarletteHTTPException) -> Response:
    return _error(request, error.status_code, str(error.detail), "HTTPException", dict(error.headers or {}))


_UPLOAD_PATH = re.compile(r"^/kbs/[^/]+/documents/?$")


def _body_limit(limits: ServerSettings, method: str, path: str, content_type: str) -> tuple[int, str] | None:
    """The most bytes a request body may have, and the setting that says so."""
    if method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return None
    if _UPLOAD_PATH.match(path):
        if content_type == "multipart/form-data":
            # The job's total, or every accepted file at its largest if that is less; plus the framing.
            if limits.max_job_mb < limits.max_files * limits.max_upload_mb:
                return int(limits.max_job_mb * _MIB) + _MIB, "max_job_mb"
            return int(limits.max_files * limits.max_upload_mb * _MIB) + _MIB, "max_upload_mb"
        # One text document as JSON: its own limit, twice over for \uXXXX escapes (the text is checked again).
        return int(2 * limits.max_upload_mb * _MIB) + 64 * 1024, "max_upload_mb"
    return int(limits.max_json_mb * _MIB), "max_json_mb"


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health")
    def health(services: ServicesDep) -> Health:
        """Report that the server is up: version, whether the chat model is loaded, KB count, queue length.

        Needs no API key.
        """
        return Health(
            version=_version(),
            model_loaded=services.workspace.chat_model_loaded,
            knowledge_bases=len(services.workspace.names()),
            busy=services.queue.busy,
            queue_waiting=services.queue.waiting,
        )

    return router


def _error(
    request: Request, status_code: int, detail: str, kind: str, headers: dict[str, str] | None = None
) -> Response:
    request_id = getattr(request.state, "request_id", "")
    if request.url.path.startswith("/v1/"):
        # OpenAI clients read {"error": {"message", "type", "code"}}.
        body: dict[str, object] = {
            "error": {"message": detail, "type": kind, "code": status_code, "request_id": request_id}
        }
        return JSONResponse(body, status_code=status_code, headers=headers)
    content = ErrorBody(detail=detail, type=kind, request_id=request_id).model_dump()
    return JSONResponse(content, status_code=status_code, headers=headers)


def _add_exception_handlers(app: FastAPI) -> None:
    async def kb_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, KBError)
        status_code = next(code for kind, code in _STATUS_BY_ERROR if isinstance(exc, kind))
        if status_code >= 500:
            logger.error("provider unavailable request_id=%s error=%s", request.state.request_id, exc)
        return _error(request, status_code, str(exc), type(exc).__name__)

    async def queue_full(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QueueFull)
        headers = {"Retry-After": str(exc.retry_after)}
        return _error(request, 429, str(exc), "QueueFull", headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (204, 304):  # pragma: no cover - never raised by kb
            return Response(status_code=exc.status_code)
        return _error(request, exc.status_code, str(exc.detail), "HTTPException", dict(exc.headers or {}))

    async def client_gone(request: Request, exc: Exception) -> Response:
        # Nobody reads this; 499 (nginx's "client closed request") makes the access log say what happened.
        return Response(status_code=499)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        # FastAPI's own handler echoes the offending input, and NaN or a lone surrogate cannot be encoded.
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": safe_validation_errors(exc.errors())}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(KBError, kb_error)
    app.add_exception_handler(QueueFull, queue_full)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClientDisconnected, client_gone)
