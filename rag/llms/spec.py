"""Parse the ``llm.spec`` string that names which chat model answers questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from kbtypes.errors import ConfigError

__all__ = ["LLMKind", "LLMSpec", "parse_llm_spec"]

LLMKind = Literal["default", "quality", "gguf", "chatglm", "openai"]

_FORMS = "default | quality | gguf:PATH | chatglm:PATH | openai:BASE_URL#MODEL"


@dataclass(frozen=True)
class LLMSpec:
    """A parsed model spec.

    Attributes:
        kind: Which backend: the bundled default GGUF (0.5B), the bundled quality GGUF (1.5B), any GGUF file, a local GLM checkpoint, or an
            OpenAI-compatible server.
        path: Model file or directory for ``gguf`` and ``chatglm``.
        url: Base URL for ``openai`` (for example ``http://127.0.0.1:8080/v1``).
        model: Model name sent to the ``openai`` server.
    """

    kind: LLMKind
    path: Path | None = None
    url: str | None = None
    model: str | None = None


def parse_llm_spec(spec: str) -> LLMSpec:
    """Parse ``default``, ``quality``, ``gguf:PATH``, ``chatglm:PATH`` or ``openai:BASE_URL#MODEL``.

    The scheme is everything before the first colon, so paths and URLs may contain colons. For
    ``openai`` the model name follows the last ``#``.

    Args:
        spec: The spec string, typically ``settings.llm.spec``.

    Returns:
        The parsed spec.

    Raises:
        ConfigError: Unknown scheme, or a missing path, URL or model name.
    """
    text = spec.strip()
    if text in ("default", "quality"):
        return LLMSpec(kind="default" if text == "default" else "quality")
    scheme, sep, rest = text.partition(":")
    scheme = scheme.strip().lower()
    valid = [kind for kind in get_args(LLMKind) if kind not in ("default", "quality")]
    if not sep or scheme not in valid:
        raise ConfigError(f"unknown LLM spec {spec!r}; use one of: {_FORMS}")
    rest = rest.strip()
    if scheme in ("gguf", "chatglm"):
        if not rest:
            raise ConfigError(f"LLM spec {spec!r} names no path; use {scheme}:PATH")
        return LLMSpec(kind="gguf" if scheme == "gguf" else "chatglm", path=Path(rest).expanduser())
    url, hash_sign, model = rest.rpartition("#")
    if not hash_sign or not url.strip() or not model.strip():
        raise ConfigError(f"LLM spec {spec!r} needs a base URL and a model name: openai:BASE_URL#MODEL")
    if not url.strip().startswith(("http://", "https://")):
        raise ConfigError(f"LLM spec {spec!r}: the base URL must start with http:// or https://")
    return LLMSpec(kind="openai", url=url.strip(), model=model.strip())
