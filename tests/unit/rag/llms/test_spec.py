"""Parsing llm.spec strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbtypes.errors import ConfigError
from rag.llms import LLMSpec, parse_llm_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("default", LLMSpec(kind="default")),
        ("  default ", LLMSpec(kind="default")),
        ("quality", LLMSpec(kind="quality")),
        ("gguf:/models/qwen.gguf", LLMSpec(kind="gguf", path=Path("/models/qwen.gguf"))),
        ("gguf:C:\\models\\q.gguf", LLMSpec(kind="gguf", path=Path("C:\\models\\q.gguf"))),
        ("GGUF:rel/model.gguf", LLMSpec(kind="gguf", path=Path("rel/model.gguf"))),
        ("chatglm:/ckpt/glm-4-9b-chat-hf", LLMSpec(kind="chatglm", path=Path("/ckpt/glm-4-9b-chat-hf"))),
        (
            "openai:http://127.0.0.1:8080/v1#qwen2.5",
            LLMSpec(kind="openai", url="http://127.0.0.1:8080/v1", model="qwen2.5"),
        ),
        (
            "openai:https://api.example.com/v1#gpt-4o-mini",
            LLMSpec(kind="openai", url="https://api.example.com/v1", model="gpt-4o-mini"),
        ),
    ],
)
def test_valid_specs(spec: str, expected: LLMSpec) -> None:
    assert parse_llm_spec(spec) == expected


def test_home_is_expanded() -> None:
    parsed = parse_llm_spec("gguf:~/m.gguf")

    assert parsed.path == Path.home() / "m.gguf"


@pytest.mark.parametrize("spec", ["", "ollama:llama3", "qwen.gguf", "defaults", "hf:THUDM/glm-4"])
def test_unknown_scheme_names_the_valid_ones(spec: str) -> None:
    with pytest.raises(
        ConfigError, match=r"default \| quality \| gguf:PATH \| chatglm:PATH \| openai:BASE_URL#MODEL"
    ):
        parse_llm_spec(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gguf:", "names no path"),
        ("chatglm:  ", "names no path"),
        ("openai:http://localhost:8000/v1", "BASE_URL#MODEL"),
        ("openai:http://localhost:8000/v1#", "BASE_URL#MODEL"),
        ("openai:#model", "BASE_URL#MODEL"),
        ("openai:localhost:8000#model", "http"),
    ],
)
def test_incomplete_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_llm_spec(spec)


def test_spec_is_frozen() -> None:
    spec = parse_llm_spec("default")

    with pytest.raises(AttributeError):
        spec.kind = "gguf"  # type: ignore[misc]
