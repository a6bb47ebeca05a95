"""A ``ChatOpenAI`` configured for an OpenAI-compatible chat server (llama.cpp, vLLM, Ollama, OpenAI)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from kbtypes.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

__all__ = ["openai_chat_model"]

logger = logging.getLogger(__name__)

# Local servers ignore the key, but the OpenAI client refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


def openai_chat_model(
    base_url: str,
    model: str,
    api_key: str | SecretStr = "",
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    timeout: float = 120.0,
    max_retries: int = 2,
) -> BaseChatModel:
    """Return a streaming ``ChatOpenAI`` that talks to an OpenAI-compatible ``/v1`` endpoint.

    ``invoke`` makes one plain request; ``stream`` streams and asks for token usage
    (``stream_options.include_usage``), which fills in usage metadata where the server sends it
    (llama-cpp-python's server does not; llama.cpp's ``llama-server``, vLLM and OpenAI do). The answer-length limit is sent as the classic
    ``max_tokens`` request field: ``ChatOpenAI`` itself sends only ``max_completion_tokens``,
    which several compatible servers (llama-cpp-python's among them) silently ignore.

    Args:
        base_url: Server base URL including the API prefix, e.g. ``http://127.0.0.1:8080/v1``.
        model: Model name the server expects.
        api_key: API key; empty for servers that need none.
        max_tokens: Most tokens per answer; ``None`` leaves it to the server.
        temperature: Sampling temperature; ``None`` leaves it to the server.
        top_p: Nucleus sampling mass; ``None`` leaves it to the server.
        timeout: Seconds to wait for a response before failing.
        max_retries: Retries on connection errors and 5xx responses.

    Returns:
        The configured chat model; it raises the OpenAI client's errors (``openai.APIConnectionError``
        when the server is down).

    Raises:
        ConfigError: ``base_url`` is not an http(s) URL or ``model`` is empty.
    """
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OpenAI-compatible base URL must start with http:// or https://, got {base_url!r}")
    if not model.strip():
        raise ConfigError("an OpenAI-compatible endpoint needs a model name: openai:BASE_URL#MODEL")
    secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    if not secret.get_secret_value():
        secret = SecretStr(_PLACEHOLDER_KEY)
    logger.info("openai-compatible chat model base_url=%s model=%s", base_url, model)
    return ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=secret,
        temperature=temperature,
        top_p=top_p,
        timeout=timeout,
        max_retries=max_retries,
        stream_usage=True,
        extra_body={"max_tokens": max_tokens} if max_tokens is not None else None,
    )
