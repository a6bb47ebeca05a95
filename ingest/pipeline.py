"""Incremental ingest: files in, chunks with stable ids out to the index (``ingest.protocols.ChunkIndex``).

Unchanged files cost one ``stat``; changed files are re-chunked and only chunk texts that no store holds
yet are embedded; files gone from the folder leave the index. The manifest brackets every write (see
``ingest.manifest``), and a run that finds an interrupted one sweeps the stores back to exactly what the
manifest owns, so a crash or Ctrl-C at any moment converges on the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from ingest.contained import ContainedParser, ParseLimits
from ingest.identity import chunk_id, content_hash
from ingest.manifest import FileRecord, Manifest
from ingest.protocols import ChunkIndex, IngestProgress
from ingest.reading import FileRead, ReadKind, read_ahead
from ingest.scan import Candidate, listed, scan
from ingest.splitting import CHUNKING_VERSION, split_blocks, stored_metadata
from kbtypes.errors import IngestError
from kbtypes.results import FileFailure, IngestReport

__all__ = ["Ingestor"]

logger = logging.getLogger(__name__)

_LARGE_FILE_BYTES = 8 * 1024 * 1024


@dataclass
class _Prepared:
    candidate: Candidate
    sha256: str
    ids: list[str]
    texts: list[str]
    hashes: list[str]
    metadatas: list[dict[str, Any]]
    is_new: bool


class Ingestor:
    """Runs incremental ingest for one knowledge base: scans, loads and chunks files, and writes them to ``index``."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        index: ChunkIndex,
        chunk_size: int,
        chunk_overlap: int,
        batch_size: int = 32,
        limits: ParseLimits | None = None,
        follow_outside_links: bool = False,
    ) -> None:
        """Wire the ingestor.

        Args:
            manifest: the knowledge base's manifest.
            index: where chunks are embedded and written.
            chunk_size: maximum chunk length in characters.
            chunk_overlap: characters shared by neighbouring chunks.
            batch_size: chunks embedded and written per step; a step is also the unit of crash recovery.
            limits: what parsing one file may cost (time, memory, text); each file is parsed in a worker.
            follow_outside_links: index files that symbolic links lead to outside the ingested folder.
        """
        self.manifest = manifest
        self.index = index
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.batch_size = batch_size
        self.limits = limits or ParseLimits()
        self.follow_outside_links = follow_outside_links
        #: How files become chunks; a file indexed under another recipe is read again.
        self.recipe = f"chunking={CHUNKING_VERSION} chunk_size={chunk_size} chunk_overlap={chunk_overlap}"

    # -- public API -------------------------------------------------------------------------------

    def ingest(
        self,
        root: Path,
        *,
        files: Sequence[Path] | None = None,
        delete_missing: bool = True,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Bring the index in step with the files under ``root``.

        Args:
            root: folder (or single file) whose documents are indexed; sources are stored relative to it.
            files: only these files under root (the rest of root's records are left alone).
            delete_missing: drop files that this root indexed before and that are gone now.
            progress: optional progress receiver.

        Returns:
            What was added, updated, unchanged, removed and failed.

        Raises:
            IngestError: root does not exist.
        """
        started = time.perf_counter()
        report = IngestReport()
        root = root.resolve()
        if not root.exists():
            raise IngestError(f"no such file or folder: {root}")
        base = root.parent if root.is_file() else root
        root_key = str(root)
        # Re-adding a removed file recreates its chunk ids: they must be gone from the store first.
        report.chunks_deleted += self.purge()
        interrupted = self.manifest.interrupted()
        # A kill between a store write and the lexical save leaves the two out of step with no pending row.
        needs_sweep = bool(interrupted) or not self.index.in_step(self.manifest.owned_ids())
        report.recovered = needs_sweep
        if needs_sweep:
            logger.warning("recovering interrupted ingest files=%d", len(interrupted))

        found = (
            list(scan(root, base, follow_outside_links=self.follow_outside_links))
            if files is None
            else listed(files, base)
        )
        # Big files go last, so one huge file cannot hold back the rest of the folder.
        candidates = sorted(
            (item for item in found if isinstance(item, Candidate)), key=lambda c: c.size > _LARGE_FILE_BYTES
        )
        refused = [item for item in found if isinstance(item, FileFailure)]
        report.failed.extend(refused)
        for failure in refused:
            logger.warning("skipped source=%s reason=%s", failure.source, failure.reason)
        # Files indexed under another chunking recipe are read again (unchanged chunks keep their vectors).
        self.manifest.adopt_recipe(self.recipe)
        records = self.manifest.records()
        if progress:
            progress.start(len(candidates), sum(candidate.size for candidate in candidates))

        seen: set[str] = set()
        batch: list[_Prepared] = []
        batch_chunks = 0
        parser = ContainedParser(self.limits)
        reads = read_ahead(candidates, records, lambda candidate: self._chunk(candidate, parser))
        try:
            for read in reads:
                seen.add(read.candidate.source)
                prepared = self._prepare(read, root_key, report)
                if prepared is None:
                    if progress:
                        progress.file_done(read.candidate.source, 0, read.candidate.size)
                    continue
                batch.append(prepared)
                batch_chunks += len(prepared.ids)
                if batch_chunks >= self.batch_size:
                    self._write(batch, root_key, report, progress)
                    batch, batch_chunks = [], 0
                    if progress is not None and progress.cancelled():
                        # Every written file is committed; a rerun picks up the rest at a stat each.
                        report.stopped = True
                if report.stopped:
                    break
            if not report.stopped:
                self._write(batch, root_key, report, progress)

            if delete_missing and files is None and not report.stopped:
                for source, record in records.items():
                    if record.root == root_key and source not in seen:
                        self._remove(record)
                        report.removed.append(source)
            if needs_sweep:
                self._sweep(report)
        finally:
            reads.close()  # a stop or an error: the file being read ahead is finished, the rest dropped
            parser.close()
            self.index.save()
        report.chunks_deleted += self.purge()
        report.seconds = time.perf_counter() - started
        logger.info(
            "ingest done root=%s added=%d updated=%d unchanged=%d removed=%d failed=%d chunks=%d seconds=%.2f",
            root,
            len(report.added),
            len(report.updated),
            len(report.unchanged),
            len(report.removed),
            len(report.failed),
            report.chunks_written,
            report.seconds,
        )
        return report

    def remove(self, source: str) -> bool:
        """Drop one document: gone from the manifest, the lexical index and searches when this returns.

        Its rows stay in the vector store, hidden, until ``purge`` (which the next ingest also runs).
        Returns False when the manifest does not know the document.
        """
        record = self.manifest.get(source)
        if record is None:
            return False
        self._remove(record)
        self.index.save()
        return True

    def hide_retired(self) -> int:
        """Hide chunks a previous process removed but did not purge; returns how many.

        They also leave the lexical index: a kill between retiring a file and saving that index leaves them in it.
        """
        retired = self.manifest.retired_ids()
        if retired:
            self.index.hide(retired)
            self.index.save()
        return len(retired)

    def purge(self, *, batch_size: int = 2000, limit: int | None = None) -> int:
        """Delete removed documents' chunks from the vector store; returns how many were purged.

        Each batch is released from the manifest's retired list only after the store dropped it, so a purge
        cut short, by ``limit`` or a crash, resumes where it was.
        """
        retired = self.manifest.retired_ids(limit)
        for start in range(0, len(retired), batch_size):
            part = retired[start : start + batch_size]
            self.index.purge(part)
            self.manifest.release(part)
        if retired:
            logger.info("purged chunks=%d", len(retired))
        return len(retired)

    def sweep(self) -> IngestReport:
        """Make both stores hold exactly the manifest's chunks (after a crash, or on demand)."""
        report = IngestReport()
        self._sweep(report)
        self.index.save()
        return report

    # -- per-file work ----------------------------------------------------------------------------

    def _prepare(self, read: FileRead, root_key: str, report: IngestReport) -> _Prepared | None:
        """Record what reading a file found; None means nothing to write."""
        candidate, record = read.candidate, read.record
        match read.kind:
            case ReadKind.UNCHANGED_STAT if record is not None and record.status == "failed":
                report.failed.append(FileFailure(candidate.source, record.error))
                return None
            case ReadKind.UNCHANGED_STAT:
                report.unchanged.append(candidate.source)
                return None
            case ReadKind.UNCHANGED_CONTENT:
                self.manifest.touch(candidate.source, size=candidate.size, mtime_ns=candidate.mtime_ns)
                report.unchanged.append(candidate.source)
                return None
            case ReadKind.UNREADABLE:
                report.failed.append(FileFailure(candidate.source, read.reason))
                return None
            case ReadKind.FAILED:
                logger.warning("ingest failed source=%s reason=%s", candidate.source, read.reason)
                if record is not None and record.chunk_ids:
                    self._remove(record)  # its old chunks go the way of a removed file's
                self.manifest.fail(
                    candidate.source,
                    root=root_key,
                    size=candidate.size,
                    mtime_ns=candidate.mtime_ns,
                    sha256=read.sha256,
                    error=read.reason,
                )
                report.failed.append(FileFailure(candidate.source, read.reason))
                return None
        # A text repeated within a file (a running header, a 100,000-page PDF of one form) is stored once:
        # its copies would only crowd other documents out of search.
        hashes_seen: set[str] = set()
        ids: list[str] = []
        texts: list[str] = []
        hashes: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for index, chunk in enumerate(read.chunks):
            text_hash = content_hash(chunk.page_content)
            if text_hash in hashes_seen:
                continue
            hashes_seen.add(text_hash)
            ids.append(chunk_id(candidate.source, text_hash, 0))
            texts.append(chunk.page_content)
            hashes.append(text_hash)
            metadatas.append(
                stored_metadata(chunk, source=candidate.source, index=index, text_hash=text_hash)
            )
        is_new = record is None or record.status != "indexed"
        return _Prepared(candidate, read.sha256, ids, texts, hashes, metadatas, is_new=is_new)

    def _chunk(self, candidate: Candidate, parser: ContainedParser) -> list[Document]:
        blocks = parser.load(candidate.path)
        chunks = split_blocks(blocks, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)
        if not chunks:
            raise IngestError("no text found in the document")
        return chunks

    # -- writing ----------------------------------------------------------------------------------

    def _write(
        self, batch: list[_Prepared], root_key: str, report: IngestReport, progress: IngestProgress | None
    ) -> None:
        if not batch:
            return
        vectors = self._vectors_for(batch, report, progress)
        if vectors is None:  # stopped while embedding: nothing of this batch was written
            report.stopped = True
            return
        for item in batch:
            candidate = item.candidate
            previous = self.manifest.get(candidate.source)
            old_ids = set(previous.chunk_ids) if previous else set()
            self.manifest.begin(
                candidate.source,
                root=root_key,
                size=candidate.size,
                mtime_ns=candidate.mtime_ns,
                sha256=item.sha256,
                pending_ids=item.ids,
            )
            fresh = [i for i, chunk in enumerate(item.ids) if chunk not in old_ids]
            self.index.upsert(
                [item.ids[i] for i in fresh],
                [item.texts[i] for i in fresh],
                [item.metadatas[i] for i in fresh],
                [vectors[item.hashes[i]] for i in fresh],
            )
            stale = sorted(old_ids - set(item.ids))
            self.index.delete(stale)
            self.manifest.commit(
                candidate.source,
                root=root_key,
                size=candidate.size,
                mtime_ns=candidate.mtime_ns,
                sha256=item.sha256,
                chunk_ids=item.ids,
            )
            report.chunks_written += len(fresh)
            report.text_bytes += sum(len(text.encode("utf-8")) for text in item.texts)
            report.chunks_deleted += len(stale)
            (report.added if item.is_new else report.updated).append(candidate.source)
            logger.info(
                "indexed source=%s chunks=%d new=%d stale=%d",
                candidate.source,
                len(item.ids),
                len(fresh),
                len(stale),
            )
            if progress:
                progress.file_done(candidate.source, len(item.ids), candidate.size)
        # Saved per batch, so keyword search finds what a killed run committed.
        self.index.save()

    def _vectors_for(
        self, batch: list[_Prepared], report: IngestReport, progress: IngestProgress | None
    ) -> Mapping[str, Sequence[float]] | None:
        """Vectors for the batch, or None when a stop was asked for while a large batch embedded."""
        text_by_hash: dict[str, str] = {}
        for item in batch:
            text_by_hash.update(zip(item.hashes, item.texts, strict=True))
        embedded = self.index.embed(
            text_by_hash, after_slice=_reporting(progress, sum(item.candidate.size for item in batch))
        )
        report.chunks_embedded += embedded.embedded
        report.embed_seconds += embedded.seconds
        report.embed_tokens += embedded.tokens
        return embedded.vectors if embedded.complete else None

    def _remove(self, record: FileRecord) -> None:
        retired = self.manifest.retire(record.source)
        self.index.hide(retired)
        logger.info("removed source=%s chunks=%d", record.source, len(record.chunk_ids))

    def _sweep(self, report: IngestReport) -> None:
        """Delete what no committed file owns; restore lexical entries the last crash lost."""
        report.chunks_deleted += self.purge()
        report.chunks_deleted += self.index.sweep(self.manifest.owned_ids())
        for record in self.manifest.interrupted():
            # Its chunks were just swept; the next run re-indexes it from disk.
            self.manifest.remove(record.source)


def _reporting(progress: IngestProgress | None, size: int) -> Callable[[int, int], bool] | None:
    """Between embedding slices: move ``progress`` through a batch of ``size`` bytes, and ask it whether to stop."""
    if progress is None:
        return None

    def after_slice(done: int, total: int) -> bool:
        progress.embedding(done, total, size)
        return progress.cancelled()

    return after_slice
