"""Retrieval and answers: embeddings, the index, retrievers, the prompt, the chat models and the answer chain."""

from __future__ import annotations

__all__: list[str] = []
