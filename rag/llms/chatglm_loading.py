"""Load a local GLM-family checkpoint with transformers: device, dtype, quantization, remote code."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from kbtypes.errors import ConfigError, ProviderUnavailable

__all__ = [
    "Device",
    "Dtype",
    "GLMCheckpoint",
    "LoadedGLM",
    "Quantize",
    "inspect_checkpoint",
    "load_glm",
    "load_tokenizer",
]

logger = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda", "mps"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
Quantize = Literal["none", "8bit", "4bit"]

_NATIVE_MODEL_TYPES = frozenset({"glm", "glm4"})


@dataclass(frozen=True)
class GLMCheckpoint:
    """What ``config.json`` says about a local checkpoint directory.

    Attributes:
        path: Resolved checkpoint directory.
        model_type: ``model_type`` from ``config.json`` (``glm``, ``glm4``, ``chatglm``...).
        remote_code: The checkpoint ships its own modeling code (``auto_map``), as ChatGLM2/3 do.
        auto_classes: Auto classes named in ``auto_map``.
    """

    path: Path
    model_type: str
    remote_code: bool
    auto_classes: frozenset[str]


@dataclass
class LoadedGLM:
    """A loaded tokenizer and model, shared by every ``ChatGLM`` with the same load settings."""

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held for a whole generation: one model, one generation at a time."""


def inspect_checkpoint(model_path: Path) -> GLMCheckpoint:
    """Read ``config.json`` of a local checkpoint and decide how to load it.

    Args:
        model_path: Directory holding ``config.json``, weights and tokenizer files.

    Returns:
        The checkpoint description.

    Raises:
        ConfigError: The path is not a directory with a readable ``config.json``, or the model type
            is neither natively supported by transformers nor shipped with its own code.
    """
    path = model_path.expanduser().resolve()
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"ChatGLM model path {path} is not a checkpoint directory (no config.json); "
            "point chatglm:PATH at a local directory saved with save_pretrained"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {config_file}: {e}") from e
    model_type = str(config.get("model_type", ""))
    auto_map = config.get("auto_map") or {}
    remote_code = bool(auto_map)
    if not remote_code and model_type not in _NATIVE_MODEL_TYPES:
        raise ConfigError(
            f"{path} has model_type={model_type!r}; ChatGLM loads {sorted(_NATIVE_MODEL_TYPES)} natively "
            "or checkpoints that ship their own code (ChatGLM2/ChatGLM3 with auto_map in config.json)"
        )
    return GLMCheckpoint(
        path=path, model_type=model_type, remote_code=remote_code, auto_classes=frozenset(auto_map)
    )


def resolve_device(device: Device) -> str:
    """Pick the torch device for ``device``, checking that it exists on this machine.

    Raises:
        ConfigError: ``cuda`` or ``mps`` was asked for but is not available.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("llm.device is 'cuda' but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("llm.device is 'mps' but this torch build has no MPS backend; use 'cpu' or 'auto'")
    return device


def resolve_dtype(dtype: Dtype, device: str) -> torch.dtype:
    """Map the dtype setting to a torch dtype; ``auto`` is float32 on CPU and half precision on GPUs."""
    if dtype != "auto":
        resolved: torch.dtype = getattr(torch, dtype)
        return resolved
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def load_tokenizer(checkpoint: GLMCheckpoint) -> PreTrainedTokenizerBase:
    """Load the checkpoint's tokenizer from disk only.

    Raises:
        ProviderUnavailable: transformers could not load the tokenizer files.
    """
    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
            checkpoint.path,
            local_files_only=True,
            # Remote code only ever comes from the local directory the user named.
            trust_remote_code=checkpoint.remote_code,
        )
    except (OSError, ValueError, ImportError) as e:
        raise ProviderUnavailable(f"cannot load the tokenizer from {checkpoint.path}: {e}") from e
    return tokenizer


def load_glm(checkpoint: GLMCheckpoint, *, device: Device, dtype: Dtype, quantize: Quantize) -> LoadedGLM:
    """Load tokenizer and model for generation (``from_pretrained`` leaves the model in eval mode).

    Native GLM checkpoints load with ``AutoModelForCausalLM``; quantization there uses
    bitsandbytes and needs CUDA. Checkpoints with their own code (ChatGLM2/3) load with
    ``trust_remote_code=True`` and quantize with their own ``quantize(bits)`` method. Several CUDA
    GPUs, or bitsandbytes quantization, spread the model with ``device_map="auto"``.

    Args:
        checkpoint: From ``inspect_checkpoint``.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        dtype: Weights dtype, ``auto`` for the device's natural choice.
        quantize: ``none``, ``8bit`` or ``4bit``.

    Returns:
        The tokenizer and the model in eval mode.

    Raises:
        ConfigError: The device is unavailable, or quantization or multi-GPU placement is asked
            for where it cannot work (no CUDA, bitsandbytes or accelerate not installed).
        ProviderUnavailable: transformers failed to load the checkpoint.
    """
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "dtype": torch_dtype,
        "trust_remote_code": checkpoint.remote_code,
    }
    bits = {"none": 0, "8bit": 8, "4bit": 4}[quantize]
    native_quantization = bits > 0 and not checkpoint.remote_code
    if native_quantization:
        kwargs["quantization_config"] = _bitsandbytes_config(bits, target, torch_dtype)
    spread = target == "cuda" and (native_quantization or torch.cuda.device_count() > 1)
    if spread:
        _require_accelerate()
        kwargs["device_map"] = "auto"

    tokenizer = load_tokenizer(checkpoint)
    # ChatGLM2/3 name their generation class under AutoModel in auto_map, some revisions under both.
    model_class: type[AutoModel] | type[AutoModelForCausalLM] = AutoModelForCausalLM
    if checkpoint.remote_code and "AutoModelForCausalLM" not in checkpoint.auto_classes:
        model_class = AutoModel
    logger.info(
        "loading glm path=%s type=%s remote_code=%s device=%s dtype=%s quantize=%s",
        checkpoint.path,
        checkpoint.model_type,
        checkpoint.remote_code,
        target,
        torch_dtype,
        quantize,
    )
    try:
        model: PreTrainedModel = model_class.from_pretrained(checkpoint.path, **kwargs)
    except (OSError, ValueError, ImportError, RuntimeError) as e:
        raise ProviderUnavailable(f"cannot load the model from {checkpoint.path}: {e}") from e

    if bits and checkpoint.remote_code:
        model = _quantize_remote(model, bits, checkpoint.path)
    if not spread:
        model = model.to(target)  # type: ignore[arg-type]  # torch's .to() accepts a device string
    return LoadedGLM(tokenizer=tokenizer, model=model)


def _bitsandbytes_config(bits: int, device: str, compute_dtype: torch.dtype) -> Any:
    if device != "cuda":
        raise ConfigError(
            f"llm.quantize={bits}bit needs a CUDA GPU (bitsandbytes), but the device is {device!r}; "
            "set quantize to 'none', or use a quantized GGUF with gguf:PATH on CPU"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"llm.quantize={bits}bit needs bitsandbytes: `pip install bitsandbytes`")
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call]
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True, bnb_4bit_compute_dtype=compute_dtype
    )


def _require_accelerate() -> None:
    if importlib.util.find_spec("accelerate") is None:
        raise ConfigError(
            "placing the model over GPUs (several GPUs or quantization) needs accelerate: "
            "`pip install accelerate`"
        )


def _quantize_remote(model: PreTrainedModel, bits: int, path: Path) -> PreTrainedModel:
    quantize = getattr(model, "quantize", None)
    if not callable(quantize):
        raise ConfigError(
            f"the checkpoint at {path} ships its own code but has no quantize() method; set quantize to 'none'"
        )
    try:
        quantized: PreTrainedModel = quantize(bits)
    except (RuntimeError, ImportError, OSError) as e:
        raise ProviderUnavailable(f"the checkpoint's own quantize({bits}) failed: {e}") from e
    return quantized
