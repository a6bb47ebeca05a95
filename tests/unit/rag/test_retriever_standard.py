"""LangChain's standard retriever contract for ``KbRetriever`` (real E5 embeddings, Chroma, BM25 index)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.embeddings import E5Embeddings
from rag.lexical import LexicalIndex
from rag.retrievers import KbRetriever
from rag.store import ChromaChunkStore, chroma_client

TEXTS = [
    "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型，具有 62 亿参数。",
    "INT4 量化级别下最低只需 6GB 显存即可进行推理。",
    "FP16 (no quantization) needs 13 GB of GPU memory.",
    "P-Tuning v2 reduces the trainable parameters to 0.1% of the original.",
    "输入 clear 可以清空对话历史，输入 stop 终止程序。",
    "The API server listens on port 8000 and accepts POST requests.",
]


pytestmark = pytest.mark.asyncio


class TestKbRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _knowledge(self, tmp_path: Path, e5: E5Embeddings) -> None:
        store = ChromaChunkStore(chroma_client(persist_directory=tmp_path / "chroma"), "kb_standard", e5)
        lexical = LexicalIndex(tmp_path / "lexical")
        ids = [f"chunk-{i}" for i in range(len(TEXTS))]
        metadatas = [{"source": f"doc{i}.md", "suffix": "md"} for i in range(len(TEXTS))]
        store.upsert(ids, TEXTS, metadatas, e5.embed_documents(TEXTS))
        lexical.upsert(ids, TEXTS, metadatas)
        self._params = {"store": store, "lexical": lexical, "mode": "hybrid", "k": 2}

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return KbRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def retriever_query_example(self) -> str:
        return "ChatGLM-6B 需要多少显存？"
