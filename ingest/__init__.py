"""Files to chunks: loaders for each format, splitting, the manifest, and the incremental ingest run."""

from __future__ import annotations

__all__: list[str] = []
