"""``KnowledgeBase``: the facade the CLI, the server and library users call; it composes, it builds nothing.

Its parts (manifest, index writer, ingestor, models) arrive ready-made from ``kb.composition``; they stay
private, and this class offers the small typed method set callers need.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.documents import doc_id_for, file_of, indexed_text
from kb.search_plumbing import hit_from_document, lexical_predicate, vector_filter
from kb.settings import Settings
from kbtypes.answer import Answer, AnswerEvent
from kbtypes.errors import ConfigError, DocumentNotFound
from kbtypes.results import (
    DocumentInfo,
    DocumentText,
    IngestReport,
    KnowledgeBaseInfo,
    SearchHit,
)
from kbtypes.retrieval import RetrievalOptions

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.language_models import BaseChatModel

    from ingest.manifest import Manifest
    from ingest.pipeline import Ingestor
    from ingest.protocols import IngestProgress
    from rag.chain import QAChain
    from rag.hybrid import HybridSearch
    from rag.index_writer import IndexWriter
    from rag.rerank import CrossEncoderReranker
    from rag.retrievers import KbRetriever

__all__ = ["INFO_FILE", "KnowledgeBase", "doc_id_for", "supported_suffixes"]

logger = logging.getLogger(__name__)

INFO_FILE = "kb.json"
"""The file whose presence makes a folder a knowledge base (name, description, embedding model)."""

_DEFAULT_OPTIONS = RetrievalOptions()


def supported_suffixes() -> frozenset[str]:
    """File suffixes kb can index (``.pdf``, ``.docx``, ``.md``…), for front ends that vet uploads."""
    from ingest.loaders import SUPPORTED_SUFFIXES

    return SUPPORTED_SUFFIXES


class KnowledgeBase:
    """One knowledge base: ingest into it, search it, ask it.

    Example:
        .. code-block:: python

            from kb import RetrievalOptions, Settings, Workspace

            workspace = Workspace.from_settings(Settings())
            kb = workspace.open("default", create=True)
            kb.ingest(Path("./docs"))
            for hit in kb.search("ChatGLM-6B 需要多少显存？", RetrievalOptions(k=3)):
                print(hit.source, hit.page, round(hit.score, 3))
            answer = kb.ask("ChatGLM-6B 需要多少显存？")
            print(answer.answer, [s.source for s in answer.sources if s.cited])
    """

    def __init__(
        self,
        *,
        name: str,
        directory: Path,
        manifest: Manifest,
        index: IndexWriter,
        ingestor: Ingestor,
        embedding_model: str,
        settings: Settings,
        chat_model: Callable[[], BaseChatModel] | None = None,
        reranker: CrossEncoderReranker | None = None,
    ) -> None:
        """Assemble a knowledge base from its parts (``kb.composition.open_knowledge_base`` builds them).

        Args:
            name: the knowledge base's name.
            directory: its folder (manifest, lexical index, embedded Chroma, uploads).
            manifest: incremental-ingest manifest.
            index: the writer that owns the vector store and the lexical index.
            ingestor: turns files into chunks and writes them through ``index``.
            embedding_model: id of the embedder the index was built with.
            settings: ingest and retrieval parameters.
            chat_model: returns the chat model on first use (loading one costs seconds).
            reranker: optional cross-encoder.
        """
        from ingest.purge import BackgroundPurge

        self.name = name
        self._directory = directory
        self._manifest = manifest
        self._index = index
        self._ingestor = ingestor
        self._embedding_model = embedding_model
        self._settings = settings
        self._chat_model = chat_model
        self._reranker = reranker
        self._write_lock = threading.Lock()
        self._purge = BackgroundPurge(ingestor, self._write_lock)
        if ingestor.hide_retired():
            # A removal whose rows were not all deleted before the last exit: finish the job.
            self._purge.schedule()

    @property
    def directory(self) -> Path:
        """The knowledge base's folder."""
        return self._directory

    @property
    def uploads_directory(self) -> Path:
        """Where files uploaded over HTTP are kept (``KB_HOME/kbs/<kb>/uploads``)."""
        return self._directory / "uploads"

    # -- ingest -----------------------------------------------------------------------------------

    def ingest(
        self,
        path: Path,
        *,
        files: Sequence[Path] | None = None,
        delete_missing: bool | None = None,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Index a folder or file incrementally; see ``ingest.pipeline.Ingestor.ingest``.

        Raises:
            IngestError: the path does not exist.
        """
        keep = self._settings.ingest.delete_missing if delete_missing is None else delete_missing
        with self._write_lock:
            return self._ingestor.ingest(path, files=files, delete_missing=keep, progress=progress)

    def watch(
        self,
        path: Path,
        report: Callable[[IngestReport], None],
        *,
        settle_s: float = 1.0,
        stop: threading.Event | None = None,
    ) -> None:
        """Keep this knowledge base equal to the folder ``path`` until Ctrl-C; see ``ingest.watch``.

        Raises:
            IngestError: the path is not a folder.
        """
        from ingest.watch import keep_in_sync

        keep_in_sync(
            path, lambda: self.ingest(path, delete_missing=True), report, settle_s=settle_s, stop=stop
        )

    def remove(self, source: str) -> str:
        """Remove one document by source path or doc id; returns its source path.

        Searches no longer see it when this returns. Its rows are deleted from the vector store by a
        background worker, which ``close`` waits for.

        Raises:
            DocumentNotFound: no document has that source path or doc id.
        """
        source = self._resolve_source(source)
        with self._write_lock:
            if not self._ingestor.remove(source):  # removed by a concurrent call since it was resolved
                raise DocumentNotFound(f"knowledge base {self.name!r} has no document {source!r}")
        self._purge.schedule()
        return source

    def stop_background_work(self) -> None:
        """Stop the purge worker after its current batch (before the knowledge base is deleted)."""
        self._purge.stop()

    def wait_for_purge(self) -> None:
        """Block until removed documents' rows are gone from the vector store too."""
        self._purge.wait()

    def documents(self) -> list[DocumentInfo]:
        """Every document the manifest knows, indexed or failed."""
        return [
            DocumentInfo(
                doc_id=doc_id_for(record.source),
                source=record.source,
                chunks=len(record.chunk_ids),
                sha256=record.sha256,
                status=record.status,
                error=record.error,
                size=record.size,
            )
            for record in self._manifest.records().values()
        ]

    def has_document(self, source_or_id: str) -> bool:
        """Whether a document with this source path or doc id is indexed (or failed) here."""
        try:
            self._resolve_source(source_or_id)
        except DocumentNotFound:
            return False
        return True

    def info(self) -> KnowledgeBaseInfo:
        """Name, description and sizes."""
        path = self._directory / INFO_FILE
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return KnowledgeBaseInfo(
            name=self.name,
            description=str(meta.get("description", "")),
            documents=len(self._manifest.sources()),
            chunks=self._manifest.chunk_count(),
            embedding_model=self._embedding_model,
            chat_model=self._settings.llm.spec,
            chunk_size=self._settings.ingest.chunk_size,
            chunk_overlap=self._settings.ingest.chunk_overlap,
            retrieval_mode=self._settings.retrieval.mode,
            k=self._settings.retrieval.k,
        )

    def document_text(self, source_or_id: str) -> DocumentText:
        """The document as kb indexed it: its chunks in order, with pages, headings and offsets.

        Raises:
            DocumentNotFound: no document has that source path or doc id.
        """
        source = self._resolve_source(source_or_id)
        return indexed_text(source, self._manifest.get(source), self._index.store)

    def original_file(self, source_or_id: str) -> Path:
        """Where the document's file is now (the folder it was ingested from, or the uploads).

        Raises:
            DocumentNotFound: no such document, or its file is gone from where it was ingested.
        """
        source = self._resolve_source(source_or_id)
        return file_of(source, self._manifest.get(source), self.uploads_directory)

    # -- retrieval --------------------------------------------------------------------------------

    def retriever(self, options: RetrievalOptions = _DEFAULT_OPTIONS) -> KbRetriever:
        """A LangChain retriever over this knowledge base; options left unset come from settings."""
        from rag.retrievers import KbRetriever

        return KbRetriever(**vars(self._hybrid_search(options)))

    def _hybrid_search(self, options: RetrievalOptions) -> HybridSearch:
        from rag.hybrid import HybridSearch

        retrieval = self._settings.retrieval
        allowed_sources = self._sources_matching(options.source_glob)
        threshold = retrieval.score_threshold if options.score_threshold is None else options.score_threshold
        return HybridSearch(
            store=self._index.store,
            lexical=self._index.lexical,
            k=options.k or retrieval.k,
            mode=options.mode or retrieval.mode,
            score_threshold=threshold,
            dense_weight=retrieval.dense_weight,
            bm25_weight=retrieval.bm25_weight,
            rrf_k=retrieval.rrf_k,
            where=vector_filter(allowed_sources, options.file_types),
            predicate=lexical_predicate(allowed_sources, options.file_types),
            reranker=self._reranker,
        )

    def vectorstore(self) -> Chroma:
        """The underlying ``langchain_chroma.Chroma`` (call ``wait_for_purge`` first to see no removed rows)."""
        return self._index.store.as_vectorstore()

    def search(self, query: str, options: RetrievalOptions = _DEFAULT_OPTIONS) -> list[SearchHit]:
        """The passages that best match ``query``, best first."""
        # Straight to the ranking: LangChain's retriever machinery costs a CLI process ~0.4 s to import.
        return [hit_from_document(doc) for doc in self._hybrid_search(options).run(query)]

    def chat_model(self) -> BaseChatModel:
        """The chat model, loaded on first use.

        Raises:
            ConfigError: no chat model was configured for this knowledge base.
        """
        if self._chat_model is None:
            raise ConfigError("this knowledge base was opened without a chat model")
        return self._chat_model()

    def close(self) -> None:
        """Finish deleting removed documents' rows, save the lexical index and release the manifest."""
        self._purge.wait()
        self._purge.stop()  # a removal racing with close leaves its ids retired for the next open
        self._index.save()
        self._manifest.close()

    def drop(self) -> None:
        """Delete this knowledge base's vectors and release its files (``Workspace.delete`` removes the folder)."""
        self.stop_background_work()
        self._index.store.drop()
        self._manifest.close()

    # -- answers ----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        options: RetrievalOptions = _DEFAULT_OPTIONS,
        answer_threshold: float | None = None,
    ) -> Answer:
        """Answer a question from this knowledge base, citing the passages used.

        Args:
            question: the question, in any language (the answer follows it).
            history: earlier (question, answer) turns, oldest first; follow-ups are made standalone.
            options: retrieval options (at most three passages are shown to the model).
            answer_threshold: similarity the best passage needs, else a refusal without calling the
                model; default ``settings.retrieval.answer_threshold``.

        Returns:
            The answer, its numbered sources and timings.

        Raises:
            ConfigError: no chat model is configured.
            ProviderUnavailable: the chat model cannot be loaded or reached.
        """
        chain = self._qa_chain(options, answer_threshold)
        return chain.invoke({"question": question, "history": list(history)})

    def ask_events(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        options: RetrievalOptions = _DEFAULT_OPTIONS,
        answer_threshold: float | None = None,
    ) -> Generator[AnswerEvent, None, None]:
        """Answer a question as events: ``SourcesEvent`` first, then ``TokenEvent``s, then the ``Answer``.

        Takes the same arguments as ``ask``. Closing the generator early stops generation.

        Raises:
            ConfigError: no chat model is configured.
            ProviderUnavailable: the chat model cannot be loaded or reached.
        """
        chain = self._qa_chain(options, answer_threshold)
        return chain.events({"question": question, "history": list(history)})

    def _qa_chain(self, options: RetrievalOptions, answer_threshold: float | None) -> QAChain:
        from rag.chain import make_qa_chain

        retrieval = self._settings.retrieval
        threshold = retrieval.answer_threshold if answer_threshold is None else answer_threshold
        return make_qa_chain(
            self.retriever(options),
            self.chat_model(),
            answer_threshold=max(threshold, retrieval.score_threshold),
            focus_threshold=max(retrieval.focus_threshold, retrieval.answer_threshold),
            english_margin=retrieval.english_margin,
            cross_language_margin=retrieval.cross_language_margin,
            translate=retrieval.translate_questions,
            context_window=self._settings.llm.context_window,
            max_answer_tokens=self._settings.llm.max_tokens,
        )

    def _sources_matching(self, source_glob: str | None) -> set[str] | None:
        if not source_glob:
            return None
        return {s for s in self._manifest.sources() if fnmatch.fnmatchcase(s, source_glob)}

    def _resolve_source(self, source_or_id: str) -> str:
        sources = self._manifest.sources()
        if source_or_id in sources:
            return source_or_id
        for source in sources:
            if doc_id_for(source) == source_or_id:
                return source
        raise DocumentNotFound(f"knowledge base {self.name!r} has no document {source_or_id!r}")
