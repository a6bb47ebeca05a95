"""ChatLlamaCpp on the bundled Qwen2.5-Coder-0.5B GGUF: real llama.cpp generation."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import llama_cpp
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from kbtypes.errors import ConfigError
from rag.llms.llamacpp import ChatLlamaCpp
from tests.unit.rag.llms.local_model_capabilities import LocalChatModelCapabilities

pytestmark = pytest.mark.slow

# Every model built with these settings shares one loaded Llama (see ChatLlamaCpp._load).
# One thread: llama.cpp's threads spin at barriers, and on a two-core machine shared with other
# processes two threads generated 1.6 tokens/s against 9.7 with one.
LOAD_PARAMS: dict[str, Any] = {"n_ctx": 2048, "n_threads": 1}


@pytest.fixture(scope="session")
def default_llm(default_gguf: Path) -> ChatLlamaCpp:
    """Greedy ChatLlamaCpp on the default model, loaded once per session (a few seconds).

    Holding it for the whole session keeps the loaded Llama alive in the shared registry, so the
    models the standard suites build per test reuse it instead of loading again.
    """
    llm = ChatLlamaCpp(model_path=default_gguf, temperature=0.0, max_tokens=16, **LOAD_PARAMS)
    llm.get_num_tokens("warm up")  # loads the model
    return llm


def test_answers_a_trivial_question_while_streaming(default_llm: ChatLlamaCpp) -> None:
    chunks = list(default_llm.stream("What is 2 + 2? Reply with the number only.", max_tokens=8))

    text_chunks = [chunk for chunk in chunks if chunk.content]
    assert len(text_chunks) >= 1
    assert len(chunks) > 1
    assert chunks[-1].chunk_position == "last"
    assert "4" in "".join(str(chunk.content) for chunk in chunks)


def test_usage_counts_prompt_and_completion_tokens(default_llm: ChatLlamaCpp) -> None:
    result = default_llm.invoke("Write a long story about a dragon.", max_tokens=5)

    assert result.content
    assert result.usage_metadata is not None
    assert result.usage_metadata["input_tokens"] > 10
    assert result.usage_metadata["output_tokens"] == 5
    assert result.response_metadata["finish_reason"] == "length"
    assert result.response_metadata["model_name"] == "qwen2.5-coder-0.5b-instruct-q4"


def test_stop_sequence_truncates(default_llm: ChatLlamaCpp) -> None:
    result = default_llm.invoke(
        "Count from 1 to 10, separated by commas. Output only the numbers.", stop=["5"], max_tokens=40
    )

    assert result.content
    assert "5" not in str(result.content)
    assert "4" in str(result.content)
    assert result.response_metadata["finish_reason"] == "stop"


def test_history_is_part_of_the_prompt(default_llm: ChatLlamaCpp) -> None:
    history = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("My name is Alice."),
        AIMessage("Nice to meet you, Alice!"),
        HumanMessage("What is my name? Reply with the name only."),
    ]

    result = default_llm.invoke(history, max_tokens=6)

    assert "Alice" in str(result.content)


def test_closing_the_stream_stops_generation_and_frees_the_model(default_llm: ChatLlamaCpp) -> None:
    stream = default_llm.stream("Write a very long essay about rivers.", max_tokens=400)
    assert isinstance(stream, Generator)
    next(stream)

    stream.close()

    # The generation lock was released: another call runs at once instead of waiting for 400 tokens.
    assert default_llm.invoke("Say hi.", max_tokens=2).content


def test_shared_prompt_prefix_is_not_evaluated_again(default_llm: ChatLlamaCpp) -> None:
    # Timing is too noisy on a shared CPU; llama.cpp's own counters say how many tokens it evaluated.
    llama = default_llm._load().llama
    context = " ".join(f"Item {i} costs {i * 3} euros." for i in range(25))
    first = [SystemMessage(f"Answer from this price list. {context}"), HumanMessage("What does item 2 cost?")]
    second = [
        SystemMessage(f"Answer from this price list. {context}"),
        HumanMessage("What does item 4 cost?"),
    ]
    default_llm.invoke("Unrelated warm-up.", max_tokens=1)

    llama_cpp.llama_perf_context_reset(llama.ctx)
    cold = default_llm.invoke(first, max_tokens=1)
    cold_evaluated = _evaluated_tokens(llama)
    llama_cpp.llama_perf_context_reset(llama.ctx)
    warm = default_llm.invoke(second, max_tokens=1)
    warm_evaluated = _evaluated_tokens(llama)

    assert cold.usage_metadata is not None
    assert warm.usage_metadata is not None
    assert warm.usage_metadata["input_tokens"] > 200
    assert cold_evaluated >= cold.usage_metadata["input_tokens"] - 30  # only the template head was shared
    assert warm_evaluated < 30  # only the tokens after the shared prefix


def _evaluated_tokens(llama: Any) -> int:
    perf = llama_cpp.llama_perf_context(llama.ctx)
    return int(perf.n_p_eval + perf.n_eval)


def test_prompt_cache_keeps_earlier_prompts(default_gguf: Path) -> None:
    # A separate small-context Llama with a RAM cache of KV states; answers stay the same.
    cached = ChatLlamaCpp(
        model_path=default_gguf,
        n_ctx=512,
        n_threads=1,
        temperature=0.0,
        max_tokens=3,
        prompt_cache_bytes=64 << 20,
    )

    first = cached.invoke("Name a colour.")
    cached.invoke("Name an animal.")

    assert cached.invoke("Name a colour.").content == first.content


def test_get_num_tokens_uses_the_model_tokenizer(default_llm: ChatLlamaCpp) -> None:
    assert default_llm.get_num_tokens("Hello world") == 2
    assert default_llm.get_num_tokens("") == 0


def test_instances_with_same_settings_share_the_loaded_model(
    default_llm: ChatLlamaCpp, default_gguf: Path
) -> None:
    other = ChatLlamaCpp(model_path=default_gguf, max_tokens=4, **LOAD_PARAMS)

    assert other._load() is default_llm._load()


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ChatLlamaCpp(model_path=tmp_path / "missing.gguf")


def test_prompt_longer_than_context_is_a_config_error(default_llm: ChatLlamaCpp) -> None:
    with pytest.raises(ConfigError, match="context window"):
        default_llm.invoke("word " * 2100)


class _DefaultModelParams(LocalChatModelCapabilities):
    """Standard-suite settings shared by the unit and integration classes."""

    gguf: Path

    @pytest.fixture(autouse=True, scope="class")
    def _shared_model(self, request: pytest.FixtureRequest, default_llm: ChatLlamaCpp) -> None:
        # chat_model_params is a property, not a fixture; default_llm keeps the Llama loaded.
        request.cls.gguf = default_llm.model_path

    @property
    def chat_model_class(self) -> type[ChatLlamaCpp]:
        return ChatLlamaCpp

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # No max_tokens here: test_standard_params passes its own next to these.
        return {"model_path": self.gguf, "temperature": 0.0, **LOAD_PARAMS}


class TestChatLlamaCppStandardUnit(_DefaultModelParams, ChatModelUnitTests):
    """LangChain's unit contract for chat models."""


@pytest.mark.asyncio
class TestChatLlamaCppStandardIntegration(_DefaultModelParams, ChatModelIntegrationTests):
    """LangChain's integration contract against the real default model."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Short answers keep the suite within a few minutes on two CPU cores.
        return {**super().chat_model_params, "max_tokens": 10}
