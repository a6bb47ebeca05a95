"""Optional cross-encoder reranking from a local sentence-transformers model (bge-reranker and the like)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kbtypes.errors import ConfigError, ProviderUnavailable

__all__ = ["CrossEncoderReranker"]


class CrossEncoderReranker:
    """Reorders candidate passages by a cross-encoder's relevance score; loads from disk only."""

    def __init__(self, model_path: str | Path, *, device: str = "cpu", max_candidates: int = 20) -> None:
        """Load the model.

        Args:
            model_path: folder of a sentence-transformers CrossEncoder model.
            device: torch device.
            max_candidates: how many of the top candidates are rescored; the rest keep their order behind them.

        Raises:
            ConfigError: the folder does not exist.
            ProviderUnavailable: it does not hold a loadable cross-encoder.
        """
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(f"reranker model folder not found: {path} (kb never downloads models)")
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(str(path), device=device, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ProviderUnavailable(f"could not load cross-encoder at {path}: {e}") from e
        self.model_path = path
        self.max_candidates = max_candidates

    def rerank(self, query: str, ids: Sequence[str], texts: Mapping[str, str]) -> list[str]:
        """The ids reordered, most relevant first."""
        head, tail = list(ids[: self.max_candidates]), list(ids[self.max_candidates :])
        if not head:
            return tail
        scores = self._model.predict([(query, texts[i]) for i in head])
        ranked = [
            i for _, i in sorted(zip((float(s) for s in scores), head, strict=True), key=lambda p: -p[0])
        ]
        return ranked + tail
