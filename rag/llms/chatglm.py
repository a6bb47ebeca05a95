"""``ChatGLM``: a LangChain chat model over a local GLM-family checkpoint run with transformers."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import torch
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, PrivateAttr, model_validator
from transformers import (
    BatchEncoding,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from kbtypes.errors import ConfigError
from rag.llms.chatglm_loading import (
    Device,
    Dtype,
    GLMCheckpoint,
    LoadedGLM,
    Quantize,
    inspect_checkpoint,
    load_glm,
    load_tokenizer,
)
from rag.llms.messages import to_chat_dicts
from rag.llms.model_registry import LoadedModelRegistry
from rag.llms.stop_text import StopTextFilter

if TYPE_CHECKING:
    from collections.abc import Iterator

    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models.base import LangSmithParams
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatResult
    from transformers import PreTrainedTokenizerBase

__all__ = ["ChatGLM"]

logger = logging.getLogger(__name__)

_LOADED: LoadedModelRegistry[tuple[Path, str, str, str], LoadedGLM] = LoadedModelRegistry()


class ChatGLM(BaseChatModel):
    """Chat model over a local GLM checkpoint (GLM-4, GLM-Edge, ChatGLM2/3) using transformers.

    Natively supported checkpoints (``model_type`` ``glm`` or ``glm4``) load with
    ``AutoModelForCausalLM``; ChatGLM2/3 checkpoints, which carry their own modeling code
    (``auto_map`` in ``config.json``), load with ``trust_remote_code=True`` — only ever from the
    local directory given here, never from a hub. The prompt comes from the tokenizer's chat
    template. Weights load on first use and are shared by every ``ChatGLM`` with the same
    ``model_path``, ``device``, ``dtype`` and ``quantize``; one generation runs at a time per model.

    Raises:
        ConfigError: At construction, the path is not a supported checkpoint or quantization is
            asked for on CPU/MPS; on first use, the device is missing, bitsandbytes/accelerate are
            not installed where needed, or a message is not text.
        ProviderUnavailable: transformers cannot load the tokenizer or weights.

    Example:
        .. code-block:: python

            llm = ChatGLM(model_path=Path("models/glm-4-9b-chat-hf"), device="cuda", max_tokens=256)
            for chunk in llm.stream("What is a knowledge base?"):
                ...
    """

    model_path: Path
    """Local checkpoint directory (``config.json``, weights, tokenizer files)."""
    device: Device = "auto"
    """``auto`` picks CUDA, then MPS, then CPU; several CUDA GPUs share the model."""
    dtype: Dtype = "auto"
    """Weights dtype; ``auto`` is float32 on CPU, bfloat16/float16 on GPUs."""
    quantize: Quantize = "none"
    """``8bit``/``4bit``: bitsandbytes on CUDA, or the checkpoint's own ``quantize()`` for ChatGLM2/3."""
    max_tokens: int = Field(default=384, gt=0)
    """Most tokens to generate."""
    temperature: float = Field(default=0.1, ge=0.0)
    """Sampling temperature; 0 means greedy decoding."""
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    stop: list[str] | None = None
    """Stop sequences applied to every call, in addition to those passed per call."""

    _checkpoint: GLMCheckpoint = PrivateAttr()
    _loaded: LoadedGLM | None = PrivateAttr(default=None)
    _tokenizer: PreTrainedTokenizerBase | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _validate_options(self) -> Self:
        """Reject unusable options now rather than at the first question.

        Raises:
            ConfigError: The path is no GLM checkpoint, or quantization was asked for on CPU/MPS.
        """
        self._checkpoint = inspect_checkpoint(self.model_path)
        if self.quantize != "none" and self.device in ("cpu", "mps"):
            raise ConfigError(
                f"quantize={self.quantize!r} works on CUDA only, but device={self.device!r}; "
                "set quantize='none' or device='cuda'"
            )
        return self

    @property
    def _llm_type(self) -> str:
        return "chatglm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": str(self.model_path),
            "device": self.device,
            "dtype": self.dtype,
            "quantize": self.quantize,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }

    @property
    def model_name(self) -> str:
        """Name reported in ``response_metadata``: the checkpoint directory's name."""
        return self._checkpoint.path.name

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "chatglm"
        override = kwargs.get("model")
        params["ls_model_name"] = override if isinstance(override, str) else self.model_name
        if self.stop and "ls_stop" not in params:
            params["ls_stop"] = self.stop
        return params

    def get_num_tokens(self, text: str) -> int:
        """Count ``text``'s tokens with the checkpoint's own tokenizer (no special tokens added).

        Raises:
            ProviderUnavailable: The tokenizer could not be loaded.
        """
        return len(self._get_tokenizer().encode(text, add_special_tokens=False))

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
        loaded = self._load()
        max_tokens = int(kwargs.get("max_tokens", self.max_tokens))
        encoded = loaded.tokenizer.apply_chat_template(
            to_chat_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        if not isinstance(encoded, BatchEncoding):
            raise TypeError(f"apply_chat_template returned {type(encoded).__name__}, expected BatchEncoding")
        inputs = {name: tensor.to(loaded.model.device) for name, tensor in encoded.items()}
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        config = self._generation_config(loaded, max_tokens, kwargs)
        text_filter = StopTextFilter([*(self.stop or []), *(stop or [])])

        with loaded.lock:
            run = _GenerationRun(loaded, inputs, config)
            try:
                for piece in run.texts():
                    text = text_filter.feed(piece)
                    if text:
                        yield self._chunk(text, run_manager)
                    if text_filter.stopped:
                        run.cancel()
                        break
                if tail := text_filter.flush():
                    yield self._chunk(tail, run_manager)
                run.finish()
            finally:
                # Also reached when the consumer closes the stream early: stop the worker thread.
                run.cancel()

        completion_tokens = run.generated_tokens
        finish_reason = "length" if completion_tokens >= max_tokens and not text_filter.stopped else "stop"
        logger.debug(
            "glm generation done prompt_tokens=%d completion_tokens=%d finish_reason=%s",
            prompt_tokens,
            completion_tokens,
            finish_reason,
        )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=UsageMetadata(
                    input_tokens=prompt_tokens,
                    output_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                ),
                response_metadata={"model_name": self.model_name, "finish_reason": finish_reason},
                chunk_position="last",
            ),
            generation_info={"finish_reason": finish_reason},
        )

    def _chunk(self, text: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
        if run_manager is not None:
            run_manager.on_llm_new_token(text, chunk=chunk)
        return chunk

    def _generation_config(
        self, loaded: LoadedGLM, max_tokens: int, kwargs: dict[str, Any]
    ) -> GenerationConfig:
        temperature = float(kwargs.get("temperature", self.temperature))
        top_p = float(kwargs.get("top_p", self.top_p))
        eos = loaded.model.generation_config.eos_token_id
        if eos is None:
            eos = loaded.tokenizer.eos_token_id
        pad = loaded.tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if isinstance(eos, list) else eos
        sampling = temperature > 0
        return GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=max_tokens,
            do_sample=sampling,
            temperature=temperature if sampling else None,
            top_p=top_p if sampling else None,
            eos_token_id=eos,
            pad_token_id=pad,
        )

    def _load(self) -> LoadedGLM:
        with self._load_lock:
            if self._loaded is None:
                key = (self._checkpoint.path, self.device, self.dtype, self.quantize)
                self._loaded = _LOADED.get_or_load(
                    key,
                    lambda: load_glm(
                        self._checkpoint, device=self.device, dtype=self.dtype, quantize=self.quantize
                    ),
                )
            return self._loaded

    def _get_tokenizer(self) -> PreTrainedTokenizerBase:
        with self._load_lock:
            if self._loaded is not None:
                return self._loaded.tokenizer
            if self._tokenizer is None:
                self._tokenizer = load_tokenizer(self._checkpoint)
            return self._tokenizer


class _HaltCriteria(StoppingCriteria):
    """Stops generation once ``halt`` is set and counts the tokens generated so far."""

    def __init__(self, prompt_tokens: int) -> None:
        self.halt = threading.Event()
        self.generated = 0
        self._prompt_tokens = prompt_tokens

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        self.generated = int(input_ids.shape[-1]) - self._prompt_tokens
        done: torch.BoolTensor = torch.full(  # type: ignore[assignment]
            (input_ids.shape[0],), self.halt.is_set(), dtype=torch.bool, device=input_ids.device
        )
        return done


class _GenerationRun:
    """``model.generate`` in a worker thread, feeding a ``TextIteratorStreamer``."""

    def __init__(self, loaded: LoadedGLM, inputs: dict[str, torch.Tensor], config: GenerationConfig) -> None:
        self._streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._criteria = _HaltCriteria(int(inputs["input_ids"].shape[-1]))
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._work,
            args=(loaded, inputs, config),
            name="chatglm-generate",
            daemon=True,
        )
        self._thread.start()

    @property
    def generated_tokens(self) -> int:
        return self._criteria.generated

    def texts(self) -> Iterator[str]:
        """Decoded text pieces as the worker produces them; ends when generation ends."""
        yield from self._streamer

    def finish(self) -> None:
        """Wait for the worker and re-raise its error, if any, in the consumer's thread."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Ask the worker to stop after the current token and wait for it."""
        self._criteria.halt.set()
        self._thread.join()

    def _work(self, loaded: LoadedGLM, inputs: dict[str, torch.Tensor], config: GenerationConfig) -> None:
        try:
            with torch.inference_mode():
                loaded.model.generate(  # type: ignore[operator]
                    **inputs,
                    generation_config=config,
                    streamer=self._streamer,
                    stopping_criteria=StoppingCriteriaList([self._criteria]),
                )
        except BaseException as e:  # re-raised by finish() in the consumer thread
            self._error = e
            self._streamer.end()  # type: ignore[no-untyped-call]
