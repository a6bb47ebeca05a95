"""``ChatLlamaCpp``: a LangChain chat model over any GGUF file, run in-process by llama.cpp."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, PrivateAttr, model_validator

from kbtypes.errors import ConfigError, ProviderUnavailable
from rag.llms.messages import to_chat_dicts
from rag.llms.model_registry import LoadedModelRegistry

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import numpy.typing as npt
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models.base import LangSmithParams
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatResult
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

__all__ = ["ChatLlamaCpp"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _LoadedLlama:
    """One ``Llama`` with its chat formatter, shared by every ``ChatLlamaCpp`` loaded alike."""

    llama: Llama
    formatter: Jinja2ChatFormatter
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held for a whole generation: llama.cpp contexts are not re-entrant."""


_LoadKey = tuple[Path, int, int, int, int]
_LOADED: LoadedModelRegistry[_LoadKey, _LoadedLlama] = LoadedModelRegistry()


class ChatLlamaCpp(BaseChatModel):
    """Chat model over a GGUF file run in-process with llama-cpp-python.

    The prompt is rendered with the chat template embedded in the GGUF (llama-cpp-python's
    ``Jinja2ChatFormatter``, the same one its ``create_chat_completion`` uses), tokenized once, and
    generated with ``Llama.create_completion(stream=True)``, so usage metadata reports exact prompt
    and completion token counts.

    The model loads on first use and is shared by every ``ChatLlamaCpp`` with the same file and
    load settings; one generation runs at a time per loaded model. Keeping one ``Llama`` alive is
    what makes follow-up prompts cheap: llama.cpp keeps the previous prompt's KV cache and only
    evaluates the tokens after the longest common prefix (the system prompt, earlier turns). Set
    ``prompt_cache_bytes`` to also keep KV states of older prompts in RAM.

    Raises:
        ConfigError: At construction, ``model_path`` is not a file; on a call, the GGUF has no chat
            template, a message is not text, or the prompt does not fit in ``n_ctx``.
        ProviderUnavailable: llama.cpp cannot load the file.

    Example:
        .. code-block:: python

            llm = ChatLlamaCpp(model_path=ensure_default_model(models_dir), n_ctx=4096, max_tokens=256)
            for chunk in llm.stream("What is a knowledge base?"):
                ...
    """

    model_path: Path
    """GGUF file with an embedded chat template."""
    n_ctx: int = Field(default=4096, gt=0)
    """Context window in tokens (prompt plus answer)."""
    n_threads: int | None = Field(default=None, ge=0)
    """CPU threads; ``None`` or 0 uses every core."""
    n_batch: int = Field(default=512, gt=0)
    """Prompt tokens evaluated per batch."""
    temperature: float = Field(default=0.1, ge=0.0)
    """Sampling temperature; 0 means greedy decoding."""
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    max_tokens: int = Field(default=384, gt=0)
    """Most tokens to generate."""
    stop: list[str] | None = None
    """Stop sequences applied to every call, in addition to those passed per call."""
    seed: int | None = None
    """Sampling seed for reproducible output; ``None`` draws a new one per call."""
    prompt_cache_bytes: int = Field(default=0, ge=0)
    """Size of an in-RAM cache of KV states of earlier prompts (``LlamaRAMCache``); 0 disables it."""

    _loaded: _LoadedLlama | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _validate_path(self) -> Self:
        """Reject a missing model file now rather than at the first question.

        Raises:
            ConfigError: ``model_path`` is not a file.
        """
        if not self.model_path.expanduser().is_file():
            raise ConfigError(f"GGUF model file not found: {self.model_path}")
        return self

    @property
    def _llm_type(self) -> str:
        return "llamacpp-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }

    @property
    def model_name(self) -> str:
        """Name reported in ``response_metadata``: the GGUF file name without its suffix."""
        return self.model_path.stem

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llamacpp"
        override = kwargs.get("model")
        params["ls_model_name"] = override if isinstance(override, str) else self.model_name
        if self.stop and "ls_stop" not in params:
            params["ls_stop"] = self.stop
        return params

    def get_num_tokens(self, text: str) -> int:
        """Count ``text``'s tokens with the model's own tokenizer (no BOS, special tokens as text).

        Raises:
            ProviderUnavailable: The model could not be loaded.
        """
        return len(self._load().llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from llama_cpp import StoppingCriteriaList

        loaded = self._load()
        chat: list[Any] = to_chat_dicts(messages)  # role/content dicts are llama-cpp's message shape
        rendered = loaded.formatter(messages=chat)
        prompt = loaded.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        if len(prompt) >= self.n_ctx:
            raise ConfigError(
                f"the prompt has {len(prompt)} tokens but the context window is {self.n_ctx}; "
                "raise llm.context_window or send less context"
            )
        template_stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        stops = [s for s in [*template_stops, *(self.stop or []), *(stop or [])] if s]
        counter = _TokenCounter(len(prompt))

        finish_reason: str | None = None
        with loaded.lock:
            evaluated_before = _prompt_tokens_evaluated(loaded.llama)
            completion = loaded.llama.create_completion(
                prompt=prompt,
                max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
                temperature=float(kwargs.get("temperature", self.temperature)),
                top_p=float(kwargs.get("top_p", self.top_p)),
                stop=stops,
                seed=self.seed,
                stream=True,
                stopping_criteria=StoppingCriteriaList([counter]),
            )
            if not isinstance(completion, Generator):
                raise TypeError(f"create_completion(stream=True) returned {type(completion).__name__}")
            try:
                for part in completion:
                    choice = part["choices"][0]
                    finish_reason = choice["finish_reason"] or finish_reason
                    if text := choice["text"]:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                        if run_manager is not None:
                            run_manager.on_llm_new_token(text, chunk=chunk)
                        yield chunk
            finally:
                # Closing llama.cpp's generator stops sampling; reached too when our consumer
                # closes this stream early.
                completion.close()
            evaluated = _prompt_tokens_evaluated(loaded.llama) - evaluated_before
        # llama.cpp's own counter: prompt tokens it actually ran; the rest came from the KV cache (the
        # longest prefix shared with the previous prompt: the system prompt and its worked example).
        cached = max(0, len(prompt) - evaluated)

        logger.debug(
            "llamacpp generation done prompt_tokens=%d cached_prompt_tokens=%d completion_tokens=%d "
            "finish_reason=%s",
            len(prompt),
            cached,
            counter.count,
            finish_reason,
        )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=UsageMetadata(
                    input_tokens=len(prompt),
                    output_tokens=counter.count,
                    total_tokens=len(prompt) + counter.count,
                    input_token_details={"cache_read": cached},
                ),
                response_metadata={"model_name": self.model_name, "finish_reason": finish_reason},
                chunk_position="last",
            ),
            generation_info={"finish_reason": finish_reason},
        )

    def _load(self) -> _LoadedLlama:
        with self._load_lock:
            if self._loaded is None:
                path = self.model_path.expanduser().resolve()
                threads = self.n_threads or os.cpu_count() or 1
                key = (path, self.n_ctx, threads, self.n_batch, self.prompt_cache_bytes)
                self._loaded = _LOADED.get_or_load(key, lambda: _load_llama(*key))
            return self._loaded


def _prompt_tokens_evaluated(llama: Llama) -> int:
    """llama.cpp's running count of prompt tokens evaluated in this context (``n_p_eval``)."""
    import llama_cpp

    ctx = llama._ctx.ctx
    return int(llama_cpp.llama_perf_context(ctx).n_p_eval) if ctx is not None else 0


class _TokenCounter:
    """llama.cpp stopping criterion that never stops; it counts the tokens sampled.

    llama.cpp calls it after sampling each token with the tokens evaluated so far (the prompt and
    every earlier completion token), and once more after the loop with the same history, so the
    count is that history's length beyond the prompt, plus the token just sampled.
    """

    def __init__(self, prompt_tokens: int) -> None:
        self.count = 0
        self._prompt_tokens = prompt_tokens

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        self.count = max(self.count, len(input_ids) - self._prompt_tokens + 1)
        return False


def _load_llama(path: Path, n_ctx: int, threads: int, n_batch: int, cache_bytes: int) -> _LoadedLlama:
    from llama_cpp import Llama
    from llama_cpp.llama_cache import LlamaRAMCache
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    logger.info("loading gguf path=%s n_ctx=%d threads=%d", path, n_ctx, threads)
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=n_batch,
            verbose=False,
        )
    except (ValueError, OSError, RuntimeError) as e:
        raise ProviderUnavailable(f"llama.cpp could not load {path}: {e}") from e
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError(f"{path} has no embedded chat template (tokenizer.chat_template); use a chat GGUF")
    if cache_bytes:
        llama.set_cache(LlamaRAMCache(capacity_bytes=cache_bytes))
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, llama.token_eos()),
        bos_token=_token_text(llama, llama.token_bos()),
    )
    return _LoadedLlama(llama=llama, formatter=formatter)


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace")
