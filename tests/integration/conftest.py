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
#: Answers of the shared test model stay short, which keeps the tests quick.
MAX_TOKENS = 48


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> BaseChatModel:
    """The real default model (Qwen2.5-Coder-0.5B GGUF), loaded once."""
    from rag.llms import ChatLlamaCpp, ensure_default_model

    path = ensure_default_model(tmp_path_factory.mktemp("models"))
    return ChatLlamaCpp(model_path=str(path), n_ctx=2048, max_tokens=MAX_TOKENS, temperature=0.0)


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
