"""What a search asks for: one frozen options object shared by the facade, the retriever and the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RetrievalMode", "RetrievalOptions"]

RetrievalMode = Literal["dense", "bm25", "hybrid"]
"""Dense vectors, BM25 keywords, or both fused by reciprocal rank."""


@dataclass(frozen=True)
class RetrievalOptions:
    """How one query retrieves; every field left ``None`` takes the knowledge base's setting.

    Attributes:
        k: passages returned.
        mode: dense, bm25 or hybrid.
        score_threshold: cosine similarity a passage needs to be returned at all.
        source_glob: only documents whose source path matches this glob.
        file_types: only these file types (``pdf``, ``md``…), without the dot.
    """

    k: int | None = None
    mode: RetrievalMode | None = None
    score_threshold: float | None = None
    source_glob: str | None = None
    file_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        """Normalise ``file_types`` (any sequence, any case, with or without the dot) to a tuple."""
        if self.file_types is not None:
            types = tuple(sorted({t.lower().lstrip(".") for t in self.file_types}))
            object.__setattr__(self, "file_types", types or None)
        if self.source_glob == "":
            object.__setattr__(self, "source_glob", None)
