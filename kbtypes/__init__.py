"""The bottom layer: kb's error tree and the result types every layer shares; it imports nothing of ours.

``kbtypes.errors`` (the ``KBError`` tree), ``kbtypes.results`` (search hits, documents, ingest reports),
``kbtypes.answer`` (answers, sources, streamed events) and ``kbtypes.retrieval`` (search options). Import
from those modules; the package itself re-exports nothing, so raising an error never loads pydantic.
"""

from __future__ import annotations

__all__: list[str] = []
