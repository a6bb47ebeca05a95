"""Shared fixtures: real components, isolated on tmp_path, no network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import Workspace
from kb.settings import Settings
from rag.embeddings import E5Embeddings

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test, never from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("KB_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared real-document corpora; tests that need them skip when they are absent."""
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not present")
    return CORPORA


@pytest.fixture(scope="session")
def e5() -> E5Embeddings:
    """The default embedder, loaded once per session."""
    return E5Embeddings()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private home folder."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def workspace(settings: Settings, e5: E5Embeddings) -> Iterator[Workspace]:
    """A workspace on tmp_path with the real default embedder and an embedded Chroma."""
    ws = Workspace(settings=settings, embeddings=e5)
    yield ws
    ws.close()
