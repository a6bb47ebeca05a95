"""The kb facade: ``Workspace`` holds the knowledge bases under ``KB_HOME``; ``KnowledgeBase`` is one of them.

This is the composition root. Constructors take ready-made components, so tests and embedding apps choose
them; ``Workspace.from_settings`` is the only place settings become components.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.manifest import Manifest
from ingest.pipeline import Ingestor, IngestProgress, IngestReport
from ingest.purge import BackgroundPurge
from kb.errors import ConfigError, DocumentNotFound, KnowledgeBaseNotFound
from kb.results import DocumentInfo, KnowledgeBaseInfo, SearchHit
from kb.settings import RetrievalSettings, Settings
from rag.answer import Answer, AnswerEvent
from rag.lexical import LexicalIndex
from rag.retrievers import KbRetriever, RetrievalMode
from rag.store import ChromaChunkStore, chroma_client

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel

    from rag.chain import QAChain
    from rag.embeddings import IdentifiedEmbeddings
    from rag.rerank import CrossEncoderReranker

__all__ = ["KnowledgeBase", "Workspace", "doc_id_for", "validate_kb_name"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_INFO_FILE = "kb.json"


def validate_kb_name(name: str) -> str:
    """Return ``name`` if it is a safe knowledge-base name (letters, digits, ``-``, ``_``; ≤ 63 chars).

    Raises:
        ConfigError: the name is not allowed.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid knowledge base name {name!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def doc_id_for(source: str) -> str:
    """Stable document id for a source path (used in URLs, where paths are awkward)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


class KnowledgeBase:
    """One knowledge base: its manifest, vector store, lexical index and the models that serve it.

    Example:
        .. code-block:: python

            from kb import Settings, Workspace

            workspace = Workspace.from_settings(Settings())
            kb = workspace.open("default", create=True)
            kb.ingest(Path("./docs"))
            for hit in kb.search("ChatGLM-6B 需要多少显存？", k=3):
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
        store: ChromaChunkStore,
        lexical: LexicalIndex,
        embeddings: IdentifiedEmbeddings,
        settings: Settings,
        chat_model: Callable[[], BaseChatModel] | None = None,
        reranker: CrossEncoderReranker | None = None,
    ) -> None:
        """Assemble a knowledge base from its parts.

        Args:
            name: the knowledge base's name.
            directory: its folder (manifest, lexical index, embedded Chroma).
            manifest: incremental-ingest manifest.
            store: vector store.
            lexical: BM25 index.
            embeddings: embedder the store was built with.
            settings: ingest and retrieval parameters.
            chat_model: returns the chat model on first use (loading one costs seconds).
            reranker: optional cross-encoder.
        """
        self.name = name
        self.directory = directory
        self.manifest = manifest
        self.store = store
        self.lexical = lexical
        self.embeddings = embeddings
        self.settings = settings
        self._chat_model = chat_model
        self.reranker = reranker
        self._write_lock = threading.Lock()
        self.ingestor = Ingestor(
            manifest=manifest,
            store=store,
            lexical=lexical,
            embeddings=embeddings,
            chunk_size=settings.ingest.chunk_size,
            chunk_overlap=settings.ingest.chunk_overlap,
            batch_size=settings.ingest.embed_batch_size,
        )
        self._purge = BackgroundPurge(self.ingestor, self._write_lock)
        if self.ingestor.hide_retired():
            # A removal whose rows were not all deleted before the last exit: finish the job.
            self._purge.schedule()

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
        keep = self.settings.ingest.delete_missing if delete_missing is None else delete_missing
        with self._write_lock:
            return self.ingestor.ingest(path, files=files, delete_missing=keep, progress=progress)

    def remove(self, source: str) -> str:
        """Remove one document by source path or doc id; returns its source path.

        Searches no longer see it when this returns. Its rows are deleted from the vector store by a
        background worker, which ``close`` waits for.

        Raises:
            DocumentNotFound: no document has that source path or doc id.
        """
        source = self._resolve_source(source)
        with self._write_lock:
            if not self.ingestor.remove(source):  # removed by a concurrent call since it was resolved
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
            for record in self.manifest.records().values()
        ]

    def info(self) -> KnowledgeBaseInfo:
        """Name, description and sizes."""
        meta = _read_info(self.directory)
        return KnowledgeBaseInfo(
            name=self.name,
            description=str(meta.get("description", "")),
            documents=len(self.manifest.sources()),
            chunks=self.manifest.chunk_count(),
            embedding_model=self.embeddings.model_id,
        )

    # -- retrieval --------------------------------------------------------------------------------

    def retriever(
        self,
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        score_threshold: float | None = None,
        source_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> KbRetriever:
        """A LangChain retriever over this knowledge base; unset arguments come from settings."""
        retrieval: RetrievalSettings = self.settings.retrieval
        where, predicate = self._filters(source_glob, file_types)
        return KbRetriever(
            store=self.store,
            lexical=self.lexical,
            k=k or retrieval.k,
            mode=mode or retrieval.mode,
            score_threshold=retrieval.score_threshold if score_threshold is None else score_threshold,
            dense_weight=retrieval.dense_weight,
            bm25_weight=retrieval.bm25_weight,
            rrf_k=retrieval.rrf_k,
            where=where,
            predicate=predicate,
            reranker=self.reranker,
        )

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        score_threshold: float | None = None,
        source_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """The passages that best match ``query``, best first."""
        retriever = self.retriever(
            k=k, mode=mode, score_threshold=score_threshold, source_glob=source_glob, file_types=file_types
        )
        return [hit_from_document(doc) for doc in retriever.invoke(query)]

    def chat_model(self) -> BaseChatModel:
        """The chat model, loaded on first use.

        Raises:
            ConfigError: no chat model was configured for this knowledge base.
        """
        if self._chat_model is None:
            raise ConfigError("this knowledge base was opened without a chat model")
        return self._chat_model()

    def _filters(
        self, source_glob: str | None, file_types: Sequence[str] | None
    ) -> tuple[dict[str, Any] | None, Callable[[Mapping[str, Any]], bool] | None]:
        clauses: list[dict[str, Any]] = []
        sources: set[str] | None = None
        types: set[str] | None = None
        if source_glob:
            sources = {s for s in self.manifest.sources() if fnmatch.fnmatchcase(s, source_glob)}
            clauses.append({"source": {"$in": sorted(sources) or ["\x00none"]}})
        if file_types:
            types = {t.lower().lstrip(".") for t in file_types}
            clauses.append({"suffix": {"$in": sorted(types)}})
        if not clauses:
            return None, None
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses}

        def predicate(metadata: Mapping[str, Any]) -> bool:
            if sources is not None and metadata.get("source") not in sources:
                return False
            return types is None or metadata.get("suffix") in types

        return where, predicate

    def _resolve_source(self, source_or_id: str) -> str:
        sources = self.manifest.sources()
        if source_or_id in sources:
            return source_or_id
        for source in sources:
            if doc_id_for(source) == source_or_id:
                return source
        raise DocumentNotFound(f"knowledge base {self.name!r} has no document {source_or_id!r}")

    def close(self) -> None:
        """Finish deleting removed documents' rows, save the lexical index and release the manifest."""
        self._purge.wait()
        self._purge.stop()  # a removal racing with close leaves its ids retired for the next open
        self.lexical.save()
        self.manifest.close()

    # -- answers ----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        k: int | None = None,
        mode: RetrievalMode | None = None,
        score_threshold: float | None = None,
        source_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> Answer:
        """Answer a question from this knowledge base, citing the passages used.

        Args:
            question: the question, in any language (the answer follows it).
            history: earlier (question, answer) turns, oldest first; follow-ups are made standalone.
            k: passages retrieved (at most three are shown to the model); default from settings.
            mode: dense, bm25 or hybrid retrieval; default from settings.
            score_threshold: similarity the best passage needs, else a refusal without calling the
                model; default ``settings.retrieval.answer_threshold``.
            source_glob: only documents whose source path matches this glob.
            file_types: only these file types (``pdf``, ``md``…).

        Returns:
            The answer, its numbered sources and timings.

        Raises:
            ConfigError: no chat model is configured.
            ProviderUnavailable: the chat model cannot be loaded or reached.
        """
        chain = self._qa_chain(k, mode, score_threshold, source_glob, file_types)
        return chain.invoke({"question": question, "history": list(history)})

    def ask_events(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        k: int | None = None,
        mode: RetrievalMode | None = None,
        score_threshold: float | None = None,
        source_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> Generator[AnswerEvent, None, None]:
        """Answer a question as events: ``SourcesEvent`` first, then ``TokenEvent``s, then the ``Answer``.

        Takes the same arguments as ``ask``. Closing the generator early stops generation.

        Raises:
            ConfigError: no chat model is configured.
            ProviderUnavailable: the chat model cannot be loaded or reached.
        """
        chain = self._qa_chain(k, mode, score_threshold, source_glob, file_types)
        return chain.events({"question": question, "history": list(history)})

    def _qa_chain(
        self,
        k: int | None,
        mode: RetrievalMode | None,
        score_threshold: float | None,
        source_glob: str | None,
        file_types: Sequence[str] | None,
    ) -> QAChain:
        # Imported here: rag.chain raises kb.errors types, and importing it while kb/__init__ runs is a cycle.
        from rag.chain import make_qa_chain

        retrieval = self.settings.retrieval
        threshold = retrieval.answer_threshold if score_threshold is None else score_threshold
        llm = self.chat_model()
        return make_qa_chain(
            self.retriever(k=k, mode=mode, source_glob=source_glob, file_types=file_types),
            llm,
            score_threshold=max(threshold, retrieval.score_threshold),
            cross_language_margin=retrieval.cross_language_margin,
            context_window=self.settings.llm.context_window,
            max_answer_tokens=self.settings.llm.max_tokens,
            count_tokens=None if _has_local_tokenizer(llm) else estimate_tokens,
        )


def _has_local_tokenizer(llm: BaseChatModel) -> bool:
    """Whether the model counts tokens with its own tokenizer (a remote model's count would use tiktoken,
    which downloads its encoding files and so fails offline)."""
    from rag.llms import ChatGLM, ChatLlamaCpp

    return isinstance(llm, ChatLlamaCpp | ChatGLM)


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: one per CJK character, one per three other characters."""
    cjk = sum(1 for char in text if "\u3000" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af")
    return cjk + (len(text) - cjk + 2) // 3


def hit_from_document(doc: Document) -> SearchHit:
    """Convert a retrieved LangChain document into a ``SearchHit``."""
    metadata = doc.metadata
    return SearchHit(
        source=str(metadata.get("source", "")),
        page=metadata.get("page"),
        chunk_id=str(metadata.get("id", doc.id or "")),
        score=float(metadata.get("score", 0.0)),
        text=doc.page_content,
        headings=metadata.get("headings"),
        start=metadata.get("start"),
    )


def _read_info(directory: Path) -> dict[str, Any]:
    path = directory / _INFO_FILE
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class Workspace:
    """All knowledge bases under one home folder, sharing one embedder and one chat model."""

    def __init__(
        self,
        *,
        settings: Settings,
        embeddings: IdentifiedEmbeddings,
        chat_model: Callable[[], BaseChatModel] | None = None,
        reranker: CrossEncoderReranker | None = None,
        chroma: ClientAPI | None = None,
    ) -> None:
        """Assemble a workspace from ready-made components.

        Args:
            settings: kb settings (home folder, ingest and retrieval parameters).
            embeddings: the embedder every knowledge base here uses.
            chat_model: returns the shared chat model on first use.
            reranker: optional cross-encoder.
            chroma: a Chroma server client; None keeps an embedded store in each knowledge base's folder.
        """
        self.settings = settings
        self.embeddings = embeddings
        self.reranker = reranker
        self._chat_model_factory = chat_model
        self._chat_model: BaseChatModel | None = None
        self._chroma = chroma
        self._open: dict[str, KnowledgeBase] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings, *, load_chat_model: bool = True) -> Workspace:
        """Build every component the settings name (the chat model lazily).

        Raises:
            ConfigError: a setting is invalid.
            ProviderUnavailable: a model or the Chroma server cannot be reached.
        """
        from kb.providers import build_chat_model, build_embeddings, build_reranker

        embeddings = build_embeddings(settings.embeddings)
        chroma = chroma_client(url=settings.chroma_url) if settings.chroma_url else None
        chat_model = (
            (lambda: build_chat_model(settings.llm, models_dir=settings.home / "models")) if load_chat_model else None
        )
        return cls(
            settings=settings,
            embeddings=embeddings,
            chat_model=chat_model,
            reranker=build_reranker(settings.retrieval.rerank_model),
            chroma=chroma,
        )

    @property
    def root(self) -> Path:
        """Folder holding one sub-folder per knowledge base."""
        return self.settings.home / "kbs"

    def chat_model(self) -> BaseChatModel:
        """The shared chat model, built on first use.

        Raises:
            ConfigError: the workspace has no chat model configured.
        """
        with self._lock:
            if self._chat_model is None:
                if self._chat_model_factory is None:
                    raise ConfigError("no chat model configured")
                self._chat_model = self._chat_model_factory()
            return self._chat_model

    @property
    def chat_model_loaded(self) -> bool:
        """Whether the chat model has been loaded yet."""
        return self._chat_model is not None

    def names(self) -> list[str]:
        """Names of the existing knowledge bases."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / _INFO_FILE).exists())

    def exists(self, name: str) -> bool:
        """Whether a knowledge base of that name exists."""
        return (self.root / validate_kb_name(name) / _INFO_FILE).exists()

    def create(self, name: str, *, description: str = "") -> KnowledgeBase:
        """Create a knowledge base (a no-op for its folder if it exists) and open it.

        Raises:
            ConfigError: invalid name.
        """
        directory = self.root / validate_kb_name(name)
        directory.mkdir(parents=True, exist_ok=True)
        info = directory / _INFO_FILE
        if not info.exists():
            info.write_text(
                json.dumps({"name": name, "description": description, "embedding_model": self.embeddings.model_id}),
                encoding="utf-8",
            )
        return self.open(name)

    def open(self, name: str, *, create: bool = False) -> KnowledgeBase:
        """Open an existing knowledge base (cached per workspace).

        Raises:
            KnowledgeBaseNotFound: it does not exist and ``create`` is false.
            EmbeddingMismatch: it was built with another embedding model.
        """
        with self._lock:
            if name in self._open:
                return self._open[name]
            if not self.exists(name):
                if not create:
                    raise KnowledgeBaseNotFound(
                        f"no knowledge base named {name!r}; create it with `kb ingest PATH --kb {name}`"
                    )
                return self.create(name)
            directory = self.root / name
            client = self._chroma or chroma_client(persist_directory=directory / "chroma")
            kb = KnowledgeBase(
                name=name,
                directory=directory,
                manifest=Manifest(directory / "manifest.sqlite3"),
                store=ChromaChunkStore(client, f"kb_{name}", self.embeddings),
                lexical=LexicalIndex(directory / "lexical"),
                embeddings=self.embeddings,
                settings=self.settings,
                chat_model=self.chat_model if self._chat_model_factory else None,
                reranker=self.reranker,
            )
            self._open[name] = kb
            return kb

    def delete(self, name: str) -> None:
        """Delete a knowledge base: its vectors, index, manifest and folder.

        Raises:
            KnowledgeBaseNotFound: it does not exist.
        """
        kb = self.open(name)
        kb.stop_background_work()
        with self._lock:
            kb.store.drop()
            kb.manifest.close()
            self._open.pop(name, None)
            shutil.rmtree(kb.directory, ignore_errors=True)
        logger.info("deleted kb=%s", name)

    def close(self) -> None:
        """Close every open knowledge base."""
        with self._lock:
            for kb in self._open.values():
                kb.close()
            self._open.clear()
