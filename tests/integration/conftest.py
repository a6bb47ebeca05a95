"""Fixtures for the HTTP tests: a started TestClient over a fresh workspace with real parts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models import BaseChatModel

from kb import Settings, Workspace
from kb.settings import ServerSettings
from rag.embeddings import E5Embeddings
from server import create_app

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path, e5: E5Embeddings) -> Iterator[MakeClient]:
    """Build a started TestClient over a fresh workspace; keyword arguments go to ServerSettings."""
    with ExitStack() as stack:

        def make(*, chat_model: Callable[[], BaseChatModel] | None = None, **server: Any) -> TestClient:
            settings = Settings(home=tmp_path / "home", server=ServerSettings(**server))
            workspace = Workspace(settings=settings, embeddings=e5, chat_model=chat_model)
            stack.callback(workspace.close)
            return stack.enter_context(TestClient(create_app(workspace=workspace, settings=settings)))

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
