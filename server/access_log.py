"""Request ids and structured access logs, plus a clean 500 for errors nothing else handled.

Every request gets an id (the client's ``X-Request-ID`` when it is sane, else a fresh one), echoed in
the ``X-Request-ID`` response header and in error bodies, and one ``server.access`` log line in
key=value form when the response has finished, streamed ones included.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestContextMiddleware"]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("server.access")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Pure ASGI middleware (it must not buffer streamed answers, so no ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the request with an id, log it when done, and turn an unhandled error into a clean 500."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_code = 0
        sent_bytes = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, sent_bytes
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error request_id=%s method=%s path=%s", request_id, scope["method"], scope["path"]
            )
            if status_code:  # headers already went out; the connection is all we can end
                raise
            status_code = 500
            await _internal_error(send_with_id, request_id)
        finally:
            client = scope.get("client")
            access_logger.info(
                "method=%s path=%s status=%d duration_ms=%.1f bytes=%d request_id=%s client=%s",
                scope["method"],
                scope["path"],
                status_code,
                (time.perf_counter() - started) * 1000,
                sent_bytes,
                request_id,
                client[0] if client else "-",
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            offered: str = bytes(value).decode("latin-1")
            if _CLIENT_ID.fullmatch(offered):
                return offered
    return uuid.uuid4().hex[:16]


async def _internal_error(send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "detail": "internal server error; quote the request id when reporting it",
            "type": "InternalError",
            "request_id": request_id,
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
