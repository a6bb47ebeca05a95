"""Fixtures for the LLM backends: a tiny random GLM checkpoint and the bundled default GGUF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach a hub; set before transformers is imported anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_GLM_SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>"]
TINY_GLM_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Knowledge bases answer questions and cite their sources.",
    "Hello world, how are you today? I am fine, thank you.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "你好，世界！这是一个知识库问答系统。",
]


def build_tiny_glm(directory: Path) -> Path:
    """Save a randomly initialised two-layer GLM and a locally trained BPE tokenizer to ``directory``.

    The checkpoint has ``model_type: glm`` and loads through the same
    ``AutoModelForCausalLM``/``AutoTokenizer`` path as GLM-4 checkpoints. The EOS row of the output
    layer is zeroed so greedy decoding never picks it: generations always run to ``max_tokens``,
    which keeps the standard tests' "non-empty answer" checks deterministic.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GlmConfig, GlmForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=TINY_GLM_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        chat_template=TINY_GLM_CHAT_TEMPLATE,
    )
    tokenizer.save_pretrained(directory)

    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert isinstance(eos, int)
    torch.manual_seed(0)
    config = GlmConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        pad_token_id=eos,
        eos_token_id=eos,
    )
    model = GlmForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[eos].zero_()
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_glm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random GLM checkpoint directory, built once per session (well under a second)."""
    return build_tiny_glm(tmp_path_factory.mktemp("tiny-glm"))


@pytest.fixture(scope="session")
def default_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled default GGUF, assembled once per session into a session temp dir (~470 MiB, ~5 s)."""
    from rag.llms.bundled import ensure_default_model

    return ensure_default_model(tmp_path_factory.mktemp("models"))
