"""Dense, BM25 or hybrid ranking of one knowledge base's passages, without LangChain's retriever machinery.

``rag.retrievers.KbRetriever`` wraps this for LangChain; the facade's ``search`` calls it directly, so a
``kb search`` process never loads LangChain's runnables and tracers.

Every returned document carries ``metadata["score"]``: the cosine similarity between the question and the
passage under the knowledge base's embedding model, in every mode (passages found only by keywords are
scored the same way). ``score_threshold`` applies to that number, so its meaning does not change with the
mode. Ranking uses the mode's own order: the dense ranking, the BM25 ranking, or their weighted
reciprocal-rank fusion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from kbtypes.retrieval import RetrievalMode
from rag.fusion import iter_distinct, reciprocal_rank_fusion

if TYPE_CHECKING:
    from rag.lexical import LexicalIndex
    from rag.rerank import CrossEncoderReranker
    from rag.store import ChromaChunkStore, StoredChunk

__all__ = ["HybridSearch"]

logger = logging.getLogger(__name__)

_CANDIDATES_PER_RESULT = 5
_MIN_CANDIDATES = 20
#: A code-like name: words joined by ``_``, ``.``, ``/`` or ``::`` (``KB_LLM__MAX_TOKENS``, ``api.py``,
#: ``v1/chat/completions``). Hyphens are left out: "ChatGLM-6B" and "P-Tuning" are ordinary words here.
_IDENTIFIER = re.compile(r"(?<![\w./:])[A-Za-z][A-Za-z0-9]*(?:(?:__?|\.|/|::)[A-Za-z0-9]+)+")


@dataclass(frozen=True)
class HybridSearch:
    """One knowledge base's stores and the ranking parameters of a query."""

    store: ChromaChunkStore
    lexical: LexicalIndex | None = None
    k: int = 4
    mode: RetrievalMode = "hybrid"
    score_threshold: float = 0.0
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: int = 60
    where: dict[str, Any] | None = None
    predicate: Callable[[Mapping[str, Any]], bool] | None = None
    reranker: CrossEncoderReranker | None = None

    def run(self, query: str, *, k: int | None = None) -> list[Document]:
        """The best passages for ``query``, best first; ``k`` overrides the search's own ``k``.

        Raises:
            ValueError: the mode needs a lexical index and there is none.
        """
        limit = self.k if k is None else k
        store = self.store
        pool = max(limit * _CANDIDATES_PER_RESULT, _MIN_CANDIDATES)
        query_vector = store.embeddings.embed_query(query)
        chunks: dict[str, StoredChunk] = {}
        rankings: list[list[str]] = []
        weights: list[float] = []

        if self.mode in ("dense", "hybrid"):
            dense = store.search(query_vector, pool, where=self.where, accept=self.predicate)
            chunks.update((chunk.id, chunk) for chunk in dense)
            rankings.append([chunk.id for chunk in dense])
            weights.append(self.dense_weight)
        if self.mode in ("bm25", "hybrid"):
            lexical = self.lexical
            if lexical is None:
                raise ValueError(f"retrieval mode {self.mode!r} needs a lexical index")
            hits = lexical.search(query, pool, where=self.predicate)
            rankings.append([chunk_id for chunk_id, _ in hits])
            weights.append(self.bm25_weight)

        fused = reciprocal_rank_fusion(rankings, weights=weights, k=self.rrf_k)
        missing = [chunk_id for chunk_id, _ in fused if chunk_id not in chunks]
        if missing:
            chunks.update((chunk.id, chunk) for chunk in store.get(missing, query_vector=query_vector))
        texts = {chunk_id: chunk.text for chunk_id, chunk in chunks.items()}
        if self.mode == "hybrid":
            fused = _exact_names_first(query, fused, texts)
        distinct = (
            chunk_id
            for chunk_id, _ in iter_distinct(
                [(chunk_id, score) for chunk_id, score in fused if chunk_id in chunks], texts
            )
        )
        order: Iterable[str] = distinct
        if self.reranker is not None:
            reranker = self.reranker
            candidates = list(distinct)
            order = reranker.rerank(
                query, candidates, {chunk_id: chunks[chunk_id].text for chunk_id in candidates}
            )

        results: list[Document] = []
        for rank, chunk_id in enumerate(order, start=1):
            chunk = chunks[chunk_id]
            if chunk.similarity < self.score_threshold:
                continue
            metadata = dict(chunk.metadata)
            metadata.update(id=chunk.id, score=chunk.similarity, rank=rank)
            results.append(Document(page_content=chunk.text, metadata=metadata, id=chunk.id))
            if len(results) == limit:
                break
        logger.debug("retrieved mode=%s query_len=%d results=%d", self.mode, len(query), len(results))
        return results


def _exact_names_first(
    query: str, fused: list[tuple[str, float]], texts: Mapping[str, str]
) -> list[tuple[str, float]]:
    """Passages holding every code-like name of the query, ahead of the rest (each group keeps its order).

    A setting, file or function name asked for by name is answered by the passage that spells it; fusion
    alone can bury that passage when the embedder, which splits such names into pieces, ranks it low.
    """
    names = {name.casefold() for name in _IDENTIFIER.findall(query)}
    if not names:
        return fused
    exact = [pair for pair in fused if all(name in texts.get(pair[0], "").casefold() for name in names)]
    if not exact:
        return fused
    chosen = {chunk_id for chunk_id, _ in exact}
    return exact + [pair for pair in fused if pair[0] not in chosen]
