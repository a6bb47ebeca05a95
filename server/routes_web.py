"""The web page: ``GET /`` and its static files, served with a content security policy.

The page is hand-written HTML, CSS and JavaScript modules shipped inside the package (``server/web``): no
build step, no CDN, no web fonts, and it talks to the server only through the public HTTP API. The policy
allows scripts, styles and requests from this origin alone, so text from a document or from the model can
never run as code even if it reached the page as markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["PAGE_HEADERS", "WEB_DIRECTORY", "PageFiles", "router"]

WEB_DIRECTORY = Path(__file__).with_name("web")

#: Sent with the page and each of its files.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(tags=["web page"])


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The web page (the ChatGLM-compatible ``POST /`` is unaffected)."""
    return FileResponse(WEB_DIRECTORY / "index.html", media_type="text/html", headers=PAGE_HEADERS)


class PageFiles(StaticFiles):
    """The page's static files, with the page's security headers."""

    def __init__(self) -> None:
        """Serve ``server/web``."""
        super().__init__(directory=WEB_DIRECTORY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a file, adding the security headers to its response."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((name.lower().encode(), value.encode()) for name, value in PAGE_HEADERS.items()),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)
