"""The public surface of each package is pinned: a change to it is a deliberate change to this test."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kb


def test_kb_exports() -> None:
    assert sorted(kb.__all__) == [
        "Answer",
        "AnswerEvent",
        "AnswerMode",
        "ConfigError",
        "ConversationNotFound",
        "DocumentInfo",
        "DocumentNotFound",
        "EmbeddingMismatch",
        "FileFailure",
        "IngestError",
        "IngestReport",
        "KBError",
        "KnowledgeBase",
        "KnowledgeBaseInfo",
        "KnowledgeBaseNotFound",
        "ProviderUnavailable",
        "RetrievalMode",
        "RetrievalOptions",
        "SearchHit",
        "Settings",
        "Source",
        "SourcesEvent",
        "TokenEvent",
        "UnsupportedFileType",
        "Workspace",
        "apply_offline_environment",
        "doc_id_for",
        "supported_suffixes",
        "validate_kb_name",
    ]
    for name in kb.__all__:
        assert getattr(kb, name) is not None


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        _ = kb.NoSuchThing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "module",
    [
        "kbtypes.errors",
        "ingest.loaders",
        "ingest.pipeline",
        "rag.retrievers",
        "rag.chain",
        "kb.cli",
        "server",
    ],
)
def test_each_package_imports_first_in_a_fresh_process(module: str) -> None:
    """A circular import only shows when a module is the first thing a process imports."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_errors_share_one_root() -> None:
    for name in (
        "ConfigError",
        "ConversationNotFound",
        "DocumentNotFound",
        "EmbeddingMismatch",
        "IngestError",
        "KnowledgeBaseNotFound",
        "ProviderUnavailable",
        "UnsupportedFileType",
    ):
        assert issubclass(getattr(kb, name), kb.KBError)
