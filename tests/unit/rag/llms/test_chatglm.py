"""ChatGLM on a tiny random GLM checkpoint: the real transformers load and generate path."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import torch
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests
from transformers import AutoTokenizer, BatchEncoding

from kbtypes.errors import ConfigError
from rag.llms.chatglm import ChatGLM
from rag.llms.chatglm_loading import inspect_checkpoint
from tests.unit.rag.llms.local_model_capabilities import LocalChatModelCapabilities

MAX_TOKENS = 12


@pytest.fixture
def glm(tiny_glm_dir: Path) -> ChatGLM:
    # Greedy decoding: the same prompt always yields the same text, so outputs can be compared.
    return ChatGLM(model_path=tiny_glm_dir, device="cpu", max_tokens=MAX_TOKENS, temperature=0.0)


def _prompt_length(model_dir: Path, messages: list[dict[str, str]]) -> int:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    assert isinstance(encoded, BatchEncoding)
    return len(encoded["input_ids"])


def test_invoke_returns_text_and_usage(glm: ChatGLM, tiny_glm_dir: Path) -> None:
    result = glm.invoke("What is the capital of France?")

    assert isinstance(result.content, str)
    assert result.content
    assert result.usage_metadata is not None
    expected_prompt = _prompt_length(
        tiny_glm_dir, [{"role": "user", "content": "What is the capital of France?"}]
    )
    assert result.usage_metadata["input_tokens"] == expected_prompt
    # The tiny model never emits EOS, so it runs to max_tokens.
    assert result.usage_metadata["output_tokens"] == MAX_TOKENS
    assert result.response_metadata["finish_reason"] == "length"
    assert result.response_metadata["model_name"] == tiny_glm_dir.name


def test_stream_matches_invoke(glm: ChatGLM) -> None:
    chunks = list(glm.stream("Hello world, how are you?"))

    text_chunks = [chunk for chunk in chunks if chunk.content]
    assert len(text_chunks) > 1
    assert chunks[-1].chunk_position == "last"
    assert "".join(str(chunk.content) for chunk in chunks) == glm.invoke("Hello world, how are you?").content


def test_stop_sequence_truncates_and_stops_early(tiny_glm_dir: Path) -> None:
    long_run = ChatGLM(model_path=tiny_glm_dir, device="cpu", max_tokens=48, temperature=0.0)
    first_chunk = str(next(iter(long_run.stream("Paris is the capital of"))).content)
    full = str(long_run.invoke("Paris is the capital of").content)
    stop = first_chunk[1:3]
    expected = full[: full.index(stop)]

    result = long_run.invoke("Paris is the capital of", stop=[stop])

    assert result.content == expected
    assert result.response_metadata["finish_reason"] == "stop"
    assert result.usage_metadata is not None
    # Generation stopped soon after the stop string, not at max_tokens.
    assert result.usage_metadata["output_tokens"] < 48


def test_constructor_stop_applies_to_stream(tiny_glm_dir: Path, glm: ChatGLM) -> None:
    full = str(glm.invoke("Hello").content)
    stop = full[3:5]
    stopped = ChatGLM(
        model_path=tiny_glm_dir, device="cpu", max_tokens=MAX_TOKENS, temperature=0.0, stop=[stop]
    )

    streamed = "".join(str(chunk.content) for chunk in stopped.stream("Hello"))

    assert streamed == full[: full.index(stop)]


def test_history_reaches_the_prompt(glm: ChatGLM, tiny_glm_dir: Path) -> None:
    history = [
        SystemMessage("You answer briefly."),
        HumanMessage("Hello"),
        AIMessage("Hello, how are you?"),
        HumanMessage("What is a knowledge base?"),
    ]

    result = glm.invoke(history)

    expected = _prompt_length(
        tiny_glm_dir,
        [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hello, how are you?"},
            {"role": "user", "content": "What is a knowledge base?"},
        ],
    )
    assert result.usage_metadata is not None
    assert result.usage_metadata["input_tokens"] == expected
    assert result.content != glm.invoke("What is a knowledge base?").content


def test_closing_the_stream_stops_generation(tiny_glm_dir: Path) -> None:
    long_run = ChatGLM(model_path=tiny_glm_dir, device="cpu", max_tokens=400, temperature=0.0)
    stream = long_run.stream("Hello")
    assert isinstance(stream, Generator)
    next(stream)

    stream.close()

    assert not [t for t in threading.enumerate() if t.name == "chatglm-generate" and t.is_alive()]
    # The model's lock was released: another generation runs.
    assert long_run.invoke("Hello", max_tokens=3).content


def test_sampling_uses_temperature(tiny_glm_dir: Path) -> None:
    torch.manual_seed(0)
    sampled = ChatGLM(
        model_path=tiny_glm_dir, device="cpu", max_tokens=MAX_TOKENS, temperature=1.0, top_p=0.95
    )

    assert sampled.invoke("Hello").content


def test_get_num_tokens_uses_the_checkpoint_tokenizer(glm: ChatGLM, tiny_glm_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_glm_dir, local_files_only=True)
    text = "The quick brown fox, 你好"

    assert glm.get_num_tokens(text) == len(tokenizer.encode(text, add_special_tokens=False))


def test_instances_share_the_loaded_model(glm: ChatGLM, tiny_glm_dir: Path) -> None:
    other = ChatGLM(model_path=tiny_glm_dir, device="cpu", max_tokens=3)

    assert other._load() is glm._load()


def test_tool_messages_are_rejected(glm: ChatGLM) -> None:
    with pytest.raises(ConfigError, match="tool"):
        glm.invoke([HumanMessage("hi"), ToolMessage("42", tool_call_id="call-1")])


def test_path_without_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config.json"):
        ChatGLM(model_path=tmp_path)


def test_unsupported_model_type_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")

    with pytest.raises(ConfigError, match="model_type='llama'"):
        ChatGLM(model_path=tmp_path)


def test_remote_code_checkpoint_is_detected(tmp_path: Path) -> None:
    config = {
        "model_type": "chatglm",
        "auto_map": {
            "AutoConfig": "configuration_chatglm.ChatGLMConfig",
            "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")

    checkpoint = inspect_checkpoint(tmp_path)

    assert checkpoint.remote_code
    assert checkpoint.model_type == "chatglm"
    assert "AutoModel" in checkpoint.auto_classes


@pytest.mark.parametrize("device", ["cpu", "mps"])
def test_quantization_off_cuda_is_rejected_at_construction(tiny_glm_dir: Path, device: Any) -> None:
    with pytest.raises(ConfigError, match="CUDA"):
        ChatGLM(model_path=tiny_glm_dir, device=device, quantize="8bit")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on a machine without CUDA")
def test_quantization_without_cuda_is_rejected_at_load(tiny_glm_dir: Path) -> None:
    model = ChatGLM(model_path=tiny_glm_dir, device="auto", quantize="4bit", dtype="float32")

    with pytest.raises(ConfigError, match="CUDA"):
        model.invoke("hi")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on a machine without CUDA")
def test_cuda_device_without_cuda_is_rejected(tiny_glm_dir: Path) -> None:
    model = ChatGLM(model_path=tiny_glm_dir, device="cuda")

    with pytest.raises(ConfigError, match="cuda"):
        model.invoke("hi")


class _TinyGLMParams(LocalChatModelCapabilities):
    """Standard-suite settings shared by the unit and integration classes."""

    model_dir: Path

    @pytest.fixture(autouse=True, scope="class")
    def _tiny_checkpoint(self, request: pytest.FixtureRequest, tiny_glm_dir: Path) -> None:
        # chat_model_params is a property, not a fixture, so hand it the session checkpoint here.
        request.cls.model_dir = tiny_glm_dir

    @property
    def chat_model_class(self) -> type[ChatGLM]:
        return ChatGLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # No max_tokens here: test_standard_params passes its own next to these.
        return {"model_path": self.model_dir, "device": "cpu", "temperature": 0.0}


class TestChatGLMStandardUnit(_TinyGLMParams, ChatModelUnitTests):
    """LangChain's unit contract for chat models."""


@pytest.mark.asyncio
class TestChatGLMStandardIntegration(_TinyGLMParams, ChatModelIntegrationTests):
    """LangChain's integration contract, run against the tiny checkpoint."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Short answers keep the suite fast (the tiny model always runs to max_tokens).
        return {**super().chat_model_params, "max_tokens": 8}
