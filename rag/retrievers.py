"""``KbRetriever``: dense, BM25 or hybrid retrieval over one knowledge base, as a LangChain retriever.

The ranking itself is ``rag.hybrid.HybridSearch``; this class gives it LangChain's retriever interface
(callbacks, ``invoke``, composition in chains). Scores and thresholds are as documented there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from kbtypes.retrieval import RetrievalMode
from rag.hybrid import HybridSearch

__all__ = ["KbRetriever", "RetrievalMode"]

logger = logging.getLogger(__name__)


class KbRetriever(BaseRetriever):
    """Finds the passages of a knowledge base that answer a question.

    Example:
        .. code-block:: python

            retriever = kb.retriever(RetrievalOptions(k=4, mode="hybrid"))
            docs = retriever.invoke("ChatGLM-6B 需要多少显存？")
            docs[0].metadata["source"], docs[0].metadata["score"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="The knowledge base's ChromaChunkStore.")
    lexical: Any = Field(
        default=None, description="The knowledge base's LexicalIndex; needed for bm25/hybrid."
    )
    k: int = Field(default=4, gt=0, description="Passages returned.")
    mode: RetrievalMode = Field(default="hybrid", description="dense, bm25 or hybrid.")
    score_threshold: float = Field(default=0.0, description="Minimum cosine similarity a passage needs.")
    dense_weight: float = Field(default=1.0, ge=0.0)
    bm25_weight: float = Field(default=1.0, ge=0.0)
    rrf_k: int = Field(default=60, gt=0)
    where: dict[str, Any] | None = Field(default=None, description="Chroma metadata filter.")
    predicate: Callable[[Mapping[str, Any]], bool] | None = Field(
        default=None, description="The same filter as a function of chunk metadata, for the lexical side."
    )
    reranker: Any = Field(
        default=None, description="Optional CrossEncoderReranker applied to the candidates."
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """Rank passages for ``query``; ``invoke(query, k=n)`` overrides the retriever's ``k`` for one call."""
        search = HybridSearch(
            store=self.store,
            lexical=self.lexical,
            k=self.k,
            mode=self.mode,
            score_threshold=self.score_threshold,
            dense_weight=self.dense_weight,
            bm25_weight=self.bm25_weight,
            rrf_k=self.rrf_k,
            where=self.where,
            predicate=self.predicate,
            reranker=self.reranker,
        )
        return search.run(query, k=k)
