r"""What every request body must be before a route sees it: finite numbers, encodable text, a bounded size.

``RequestBody`` is the base of every request model: NaN and infinities are refused (``1e400`` parses as
infinity), and so is text holding a lone UTF-16 surrogate (``"\ud800"`` is valid JSON but no valid UTF-8), which
would otherwise fail with a 500 the first time it is encoded. ``BodyLimit`` caps a body while it arrives, so
a 400 MB JSON document or a chunked multi-gigabyte upload is refused after the first bytes over the limit,
not after it has been read into memory or written to disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, status
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from kb.settings import ServerSettings

__all__ = [
    "BodyLimit",
    "RequestBody",
    "check_conversation",
    "has_lone_surrogate",
    "safe_validation_errors",
]

_MIB = 1 << 20


def has_lone_surrogate(value: object) -> bool:
    """Whether a string anywhere in ``value`` (nested lists and dicts included) cannot be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return any(has_lone_surrogate(item) for item in value)
    return False


class RequestBody(BaseModel):
    """Base of kb's request models: finite numbers and encodable text only."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unencodable_text(cls, data: Any) -> Any:
        if has_lone_surrogate(data):
            raise ValueError("text holds a lone UTF-16 surrogate (invalid Unicode)")
        return data


def safe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors as FastAPI reports them, minus the echoed input: NaN or a surrogate cannot be encoded."""

    def printable(text: object) -> str:
        return str(text).encode("utf-8", "backslashreplace").decode("utf-8")

    return [
        {
            "loc": [part if isinstance(part, int) else printable(part) for part in error.get("loc", ())],
            "msg": printable(error.get("msg", "")),
            "type": printable(error.get("type", "")),
        }
        for error in errors
    ]


class BodyLimit:
    """ASGI middleware: refuse a request body over its route's limit, counted as the bytes arrive.

    ``limit_for(method, path, content_type)`` gives the limit in bytes for a request (None: no limit). A declared
    ``content-length`` over it is answered at once, before anything is read; a body without one (chunked) is
    counted and the read fails with 413 at the first byte over it. Either answer closes the connection
    (``Connection: close``), so the client stops sending instead of pushing the rest of a huge body through
    the server's parser.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[str, str, str], tuple[int, str] | None],
        refuse: Callable[[Request, HTTPException], Response],
    ) -> None:
        """Wrap ``app``; ``limit_for`` returns (bytes, name of the setting) or None; ``refuse`` renders a 413."""
        self._app = app
        self._limit_for = limit_for
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        # Routes are matched without the deployment prefix (uvicorn --root-path).
        path, root = scope["path"], scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        found = self._limit_for(scope["method"], route_path, content_type)
        if found is None:
            await self._app(scope, receive, send)
            return
        limit, setting = found
        declared = headers.get(b"content-length")
        too_large = HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            f"request body over {limit / _MIB:g} MiB (the server's {setting} setting)",
            headers={"Connection": "close"},
        )
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(Request(scope), too_large)(scope, receive, send)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large
            return message

        await self._app(scope, counting, send)


def check_conversation(question: str, history: Sequence[tuple[str, str]], limits: ServerSettings) -> None:
    """Refuse with 413 a question or history over the server's limits, naming the setting.

    Every character of the question (and of a follow-up's previous turn) is embedded and read by the
    model, so these bound the work one request can cause.

    Raises:
        HTTPException: 413, the limit exceeded and its setting.
    """
    too_large = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if len(question) > limits.max_question_chars:
        raise HTTPException(
            too_large,
            f"question has {len(question)} characters; the limit is max_question_chars={limits.max_question_chars}",
        )
    if len(history) > limits.max_history_turns:
        raise HTTPException(
            too_large,
            f"history has {len(history)} turns; the limit is max_history_turns={limits.max_history_turns}",
        )
    size = sum(len(user) + len(reply) for user, reply in history)
    if size > limits.max_history_chars:
        raise HTTPException(
            too_large,
            f"history has {size} characters; the limit is max_history_chars={limits.max_history_chars}",
        )
