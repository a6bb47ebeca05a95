"""The server package's public API is exactly what ``kb serve`` and embedders use."""

from __future__ import annotations

import server


def test_public_names_are_pinned() -> None:
    assert server.__all__ == ["create_app", "run"]
    assert all(callable(getattr(server, name)) for name in server.__all__)
