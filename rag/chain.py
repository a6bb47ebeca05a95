"""``QAChain``: retrieve, decide from the scores whether to answer, prompt the model, cite the sources.

Pipeline for one question:

1. **Standalone query.** With history, a short follow-up ("那 INT8 呢？") is turned into a query that
   stands alone. The default, ``rewrite="concat"``, prefixes the previous user turn: it costs nothing,
   and with e5 the previous turn's topic dominates the vector the way it should. ``rewrite="llm"``
   asks the chat model for a rewrite instead (tiny prompt, at most 40 tokens): on a CPU that is a
   second model call, about as long as the answer's own prompt evaluation, so it is opt-in.
2. **Retrieve and gate.** A passage counts as evidence when its cosine similarity reaches
   ``score_threshold``, or comes within ``lexical_margin`` of it while containing at least
   ``min_query_coverage`` of the query's content terms (e5 similarities are compressed, and on the
   ChatGLM docs unrelated Chinese questions reach 0.86 while a few answerable English ones score 0.85
   with most of their words in the passage). Passages far below the best one (``relative_margin``) are
   dropped too. No evidence means a fixed refusal in the question's language, and the model is never
   called.
3. **Prompt** (``rag.prompt.build_prompt``): few, short, best-first passages under a token budget.
4. **Generate** with streaming; ``[n]`` markers pointing at nothing are removed as they stream.
5. **Answer**: cited sources, refusal detection, usage and timings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import get_config_list

from kb.errors import ConfigError
from rag.answer import Answer, AnswerEvent, AnswerMode, Source, SourcesEvent, TokenEvent
from rag.citations import (
    MarkerFilter,
    drop_loop,
    is_looping,
    is_refusal,
    overlap_citations,
    resolve_citations,
)
from rag.followup import QAInput, is_follow_up, parse_input, standalone_query
from rag.grounding import content_left, degeneracy, unsupported_claims
from rag.prompt import (
    STRICT_INSTRUCTION,
    Language,
    PromptPlan,
    TokenCounter,
    build_prompt,
    content_terms,
    detect_language,
    query_coverage,
    refusal_text,
)
from rag.quotes import best_quote, extractive_answer

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForChainRun
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.retrievers import BaseRetriever

__all__ = ["QAChain", "QAInput", "RewriteMode", "make_qa_chain", "standalone_query"]

logger = logging.getLogger(__name__)


RewriteMode = Literal["concat", "llm", "none"]

_LOOP_WINDOW = 200  # streamed pieces looked at for a loop (a piece is usually one token)
_REWRITE_MAX_TOKENS = 40
_REWRITE_PROMPT = (
    "Rewrite the last question so that it can be understood without the conversation. "
    "Reply with the rewritten question only, in the same language."
)


class QAChain(Runnable[QAInput, Answer]):
    """Question answering over a retriever with a chat model, as a LangChain ``Runnable``.

    ``invoke`` returns an ``Answer``; ``stream`` yields answer text pieces (``str``) and, last, the
    ``Answer``; ``events`` yields a ``SourcesEvent`` right after retrieval, then ``TokenEvent``s, then the
    ``Answer``. Closing either iterator early stops the model's generation.

    Example:
        .. code-block:: python

            chain = make_qa_chain(kb.retriever(), kb.chat_model(), score_threshold=0.83)
            answer = chain.invoke({"question": "ChatGLM-6B 需要多少显存？", "history": []})
            answer.answer, [s.source for s in answer.sources if s.cited]
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        llm: BaseChatModel,
        *,
        max_context_tokens: int,
        passage_tokens: int,
        max_sources: int,
        score_threshold: float,
        lexical_margin: float,
        min_query_coverage: float,
        relative_margin: float,
        cross_language_margin: float,
        min_quote_coverage: float,
        context_window: int,
        max_answer_tokens: int,
        history_turns: int,
        rewrite: RewriteMode,
        count_tokens: TokenCounter,
    ) -> None:
        """Use ``make_qa_chain``, which documents the arguments and fills in defaults."""
        self.retriever = retriever
        self.llm = llm
        self.max_context_tokens = max_context_tokens
        self.passage_tokens = passage_tokens
        self.max_sources = max_sources
        self.score_threshold = score_threshold
        self.lexical_margin = lexical_margin
        self.min_query_coverage = min_query_coverage
        self.relative_margin = relative_margin
        self.cross_language_margin = cross_language_margin
        self.min_quote_coverage = min_quote_coverage
        self.context_window = context_window
        self.max_answer_tokens = max_answer_tokens
        self.history_turns = history_turns
        self.rewrite = rewrite
        self.count_tokens = count_tokens

    # -- Runnable interface -----------------------------------------------------------------------

    def invoke(self, input: QAInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question.

        Args:
            input: a question, or ``{"question": ..., "history": [...]}``.
            config: LangChain run config (callbacks, tags); passed to the retriever and the model.
            **kwargs: unused.

        Returns:
            The answer with its sources.
        """
        return self._call_with_config(self._invoke, input, config, run_type="chain")

    def _invoke(
        self, input: QAInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Answer:
        child: RunnableConfig = {**config, "callbacks": run_manager.get_child()}
        for event in self.events(input, config=child):
            if isinstance(event, Answer):
                return event
        raise AssertionError("QAChain.events ended without an Answer")  # pragma: no cover

    # The streamed items are answer text pieces, then the Answer itself: wider than Output on purpose.
    def stream(  # type: ignore[override]
        self, input: QAInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the final ``Answer``.

        Args:
            input: a question, or ``{"question": ..., "history": [...]}``.
            config: LangChain run config.
            **kwargs: unused.

        Yields:
            ``str`` pieces of the answer, then one ``Answer``.
        """
        events = self.events(input, config=config)
        try:
            for event in events:
                if isinstance(event, TokenEvent):
                    yield event.text
                elif isinstance(event, Answer):
                    yield event
        finally:
            events.close()

    def batch(
        self,
        inputs: list[QAInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Answer]:
        """Answer several questions, one at a time unless ``config["max_concurrency"]`` says otherwise.

        Local models (llama.cpp, transformers) generate one answer at a time anyway; running questions
        in parallel threads would only make them queue on the model.
        """
        configs: list[RunnableConfig] = []
        for one in get_config_list(config, len(inputs)):
            one["max_concurrency"] = one.get("max_concurrency") or 1
            configs.append(one)
        return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    # -- the pipeline -----------------------------------------------------------------------------

    def events(
        self, input: QAInput, *, config: RunnableConfig | None = None
    ) -> Generator[AnswerEvent, None, None]:
        """Answer one question as a stream of events.

        Args:
            input: a question, or ``{"question": ..., "history": [...]}``.
            config: LangChain run config for the retriever and model calls.

        Yields:
            A ``SourcesEvent`` (right after retrieval), ``TokenEvent``s, then the ``Answer``. Closing the
            iterator early stops the model's generation.
        """
        started = time.perf_counter()
        question, history = parse_input(input)
        language = detect_language(question)
        history = history[-self.history_turns :] if self.history_turns else []
        timings: dict[str, float] = {}

        query = self._standalone_query(question, history, config)
        timings["rewrite_s"] = time.perf_counter() - started
        documents = self._select(query, self.retriever.invoke(query, config=config))
        timings["retrieve_s"] = time.perf_counter() - started - timings["rewrite_s"]

        if not documents:
            text = refusal_text(language)
            yield SourcesEvent(sources=[])
            timings["first_token_s"] = time.perf_counter() - started
            yield TokenEvent(text=text)
            timings["total_s"] = time.perf_counter() - started
            logger.info("refused reason=no_relevant_passage query_len=%d", len(query))
            yield Answer(
                answer=text,
                sources=[],
                refused=True,
                usage={"prompt_tokens": 0, "completion_tokens": 0},
                timings=timings,
                query=query,
            )
            return

        plan = self._plan(question, documents, query, history, language)
        sources = [_source(n, doc) for n, doc in enumerate(plan.documents, start=1)]
        yield SourcesEvent(sources=sources)

        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        names = [source.source for source in sources]
        first = yield from self._reply(
            plan.messages, names, plan.passages, question, usage, timings, started, config
        )
        answer, cited = resolve_citations(first.text, len(sources))
        answer = answer.strip()
        degenerate = first.degenerate
        mode: AnswerMode = "generated"
        if degenerate:
            logger.info("retrying reason=%s", degenerate)
            strict = self._plan(question, documents, query, history, language, strict=True)
            # Restating the stricter instruction is an echo too.
            asked = f"{question} {STRICT_INSTRUCTION[language]}"
            retry = yield from self._reply(
                strict.messages, names, plan.passages, asked, usage, timings, started, config, emit=not first.shown
            )
            answer, cited = resolve_citations(retry.text, len(sources))
            answer = answer.strip()
            mode = "extractive" if retry.degenerate else "retried"
        if not usage["prompt_tokens"]:
            usage["prompt_tokens"] = plan.prompt_tokens

        chunks = [doc.page_content for doc in plan.documents]
        refused = mode != "extractive" and is_refusal(answer)
        # A figure must stand in the sources the answer cites (all shown ones when it cites none): "7 GB [3]"
        # over a [3] that never says 7 is as wrong as a figure found nowhere.
        backing = [chunks[n - 1] for n in cited] or chunks
        unsupported = [] if refused or mode == "extractive" else unsupported_claims(answer, backing, question)
        extract = extractive_answer(question, chunks) if mode == "extractive" or refused or unsupported else None
        if (refused or unsupported) and extract is not None and extract.quote.coverage >= self.min_quote_coverage:
            logger.info("extractive answer reason=%s", "refusal" if refused else "unsupported")
            mode, refused, unsupported = "extractive", False, []
        if mode == "extractive":
            if extract is None:
                answer, cited, refused, mode = refusal_text(language), [], True, "refused"
            else:
                answer, cited, refused = extract.text, [extract.n], False
        elif refused:
            cited, mode = [], "refused"
        elif not cited:
            # No marker: the passages whose wording it reuses; failing that (an English answer from a
            # Chinese passage shares few words), the passage it shares most with, best-ranked on ties.
            cited = overlap_citations(answer, plan.passages) or [_most_shared(answer, plan.passages)]
        sources = [_quoted(source, question, answer if source.n in cited else None) for source in sources]
        timings.setdefault("first_token_s", time.perf_counter() - started)
        timings["total_s"] = time.perf_counter() - started
        logger.info(
            "answered sources=%d cited=%s mode=%s degenerate=%s unsupported=%d prompt_tokens=%d "
            "completion_tokens=%d total_s=%.2f",
            len(sources),
            cited,
            mode,
            degenerate,
            len(unsupported),
            usage["prompt_tokens"],
            usage["completion_tokens"],
            timings["total_s"],
        )
        yield Answer(
            answer=answer,
            sources=sources,
            refused=refused,
            usage=usage,
            timings=timings,
            query=query,
            mode=mode,
            grounded=not unsupported,
            unsupported=unsupported,
            degenerate=degenerate,
        )

    def _plan(
        self,
        question: str,
        documents: Sequence[Document],
        query: str,
        history: Sequence[tuple[str, str]],
        language: Language,
        *,
        strict: bool = False,
    ) -> PromptPlan:
        return build_prompt(
            question,
            documents,
            count_tokens=self.count_tokens,
            retrieval_query=query,
            history=history,
            language=language,
            max_context_tokens=self.max_context_tokens,
            passage_tokens=self.passage_tokens,
            context_window=self.context_window,
            reserve_tokens=self.max_answer_tokens,
            strict=strict,
        )

    def _reply(
        self,
        messages: list[BaseMessage],
        names: Sequence[str],
        passages: Sequence[str],
        question: str,
        usage: dict[str, int],
        timings: dict[str, float],
        started: float,
        config: RunnableConfig | None,
        *,
        emit: bool = True,
    ) -> Generator[TokenEvent, None, _Reply]:
        """Stream one model reply as ``TokenEvent``s; the opening is held back until it is clearly no label list.

        A reply that is degenerate from its first words (source labels, file names, markers) is thus never
        shown, and the stricter retry can stream in its place.
        """
        pieces: list[str] = []
        markers = MarkerFilter(len(names))
        held: list[str] = []
        shown = False
        stream = self.llm.stream(messages, config=config)
        try:
            for chunk in stream:
                if chunk.usage_metadata:
                    usage["prompt_tokens"] += chunk.usage_metadata.get("input_tokens", 0)
                    usage["completion_tokens"] += chunk.usage_metadata.get("output_tokens", 0)
                    details = chunk.usage_metadata.get("input_token_details") or {}
                    if "cache_read" in details:
                        usage["cached_prompt_tokens"] = usage.get("cached_prompt_tokens", 0) + details["cache_read"]
                if not chunk.text:
                    continue
                pieces.append(chunk.text)
                if is_looping("".join(pieces[-_LOOP_WINDOW:])):
                    logger.info("stopped generation reason=repetition")
                    pieces = [drop_loop("".join(pieces))]
                    break
                if not emit:
                    continue
                if visible := markers.feed(chunk.text):
                    held.append(visible)
                if not shown and _opening_is_content("".join(held), names):
                    shown = True
                if shown and held:
                    timings.setdefault("first_token_s", time.perf_counter() - started)
                    yield TokenEvent(text="".join(held))
                    held = []
        finally:
            # Reached on GeneratorExit too: closing the model's stream stops its generation.
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        text = "".join(pieces)
        final = resolve_citations(text, len(names))[0].strip()
        degenerate = None if is_refusal(final) else degeneracy(final, passages, names, question)
        if emit and not shown and not degenerate:
            shown = True
        if emit and shown:
            rest = "".join(held) + markers.flush()
            if rest:
                timings.setdefault("first_token_s", time.perf_counter() - started)
                yield TokenEvent(text=rest)
        if not usage["completion_tokens"] and text:
            usage["completion_tokens"] = self.count_tokens(text)
        return _Reply(text=text, shown=shown, degenerate=degenerate)

    def _standalone_query(
        self, question: str, history: Sequence[tuple[str, str]], config: RunnableConfig | None
    ) -> str:
        if not history or self.rewrite == "none":
            return question
        if self.rewrite == "concat" or not is_follow_up(question, detect_language(question)):
            return standalone_query(question, history)
        transcript = "\n".join(f"User: {user}\nAssistant: {reply[:200]}" for user, reply in history[-2:])
        messages = [
            SystemMessage(_REWRITE_PROMPT),
            HumanMessage(f"{transcript}\nUser: {question}\nRewritten:"),
        ]
        reply = self.llm.invoke(messages, config=config, max_tokens=_REWRITE_MAX_TOKENS, stop=["\n"])
        rewritten = reply.text.strip().strip("\"'“”")
        logger.debug("rewrote question=%r query=%r", question, rewritten)
        return rewritten or standalone_query(question, history)

    def _select(self, query: str, documents: Sequence[Document]) -> list[Document]:
        """Documents that count as evidence, best first, at most ``max_sources``.

        Documents without a ``score`` in their metadata (retrievers other than ``KbRetriever``) pass.
        """
        kept: list[tuple[Document, float | None]] = []
        language = detect_language(query)
        for doc in documents:
            score = _score(doc)
            crosses = detect_language(doc.page_content) != language
            if (
                score is None
                or score >= self.score_threshold
                or (crosses and score >= self.score_threshold - self.cross_language_margin)
                or (
                    score >= self.score_threshold - self.lexical_margin
                    and query_coverage(query, doc.page_content) >= self.min_query_coverage
                )
            ):
                kept.append((doc, score))
        best = max((score for _, score in kept if score is not None), default=None)
        if best is not None:
            kept = [
                (doc, score) for doc, score in kept if score is None or score >= best - self.relative_margin
            ]
        return [doc for doc, _ in kept[: self.max_sources]]


@dataclass(frozen=True)
class _Reply:
    text: str
    shown: bool
    """Whether any of it was streamed to the caller."""
    degenerate: str | None
    """Why the reply is no answer (``rag.grounding.degeneracy``); None for an answer or a refusal."""


_OPENING_CHARS = 6  # content characters (not labels, names or markers) that show a reply is an answer


def _most_shared(answer: str, passages: Sequence[str]) -> int:
    terms = content_terms(answer)
    shared = [len(terms & content_terms(passage)) for passage in passages]
    return 1 + max(range(len(passages)), key=lambda i: (shared[i], -i))


def _opening_is_content(text: str, names: Sequence[str]) -> bool:
    return len(content_left(text, names)) >= _OPENING_CHARS


def _quoted(source: Source, question: str, answer: str | None) -> Source:
    """``source`` marked cited (when ``answer`` is given) with the sentence that supports the answer."""
    if answer is None:
        return source.model_copy(update={"cited": False})
    quote = best_quote(source.text, question, answer)
    if quote is None:
        return source.model_copy(update={"cited": True})
    offset = source.chunk_start
    return source.model_copy(
        update={
            "cited": True,
            "quote": quote.text,
            "quote_start": quote.start,
            "quote_end": quote.end,
            "document_quote_start": None if offset is None else offset + quote.start,
            "document_quote_end": None if offset is None else offset + quote.end,
        }
    )


def _score(doc: Document) -> float | None:
    value = doc.metadata.get("score")
    return None if value is None else float(value)


def _source(n: int, doc: Document) -> Source:
    metadata = doc.metadata
    page = metadata.get("page")
    return Source(
        n=n,
        source=str(metadata.get("source", "")),
        page=None if page is None else int(page),
        chunk_id=str(metadata.get("id") or doc.id or ""),
        score=float(metadata.get("score") or 0.0),
        text=doc.page_content,
        chunk_start=None if metadata.get("start") is None else int(metadata["start"]),
    )


def make_qa_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel,
    *,
    max_context_tokens: int = 360,
    passage_tokens: int = 150,
    max_sources: int = 3,
    score_threshold: float = 0.0,
    lexical_margin: float = 0.045,
    min_query_coverage: float = 0.5,
    relative_margin: float = 0.05,
    cross_language_margin: float = 0.07,
    min_quote_coverage: float = 0.4,
    context_window: int | None = None,
    max_answer_tokens: int | None = None,
    history_turns: int = 2,
    rewrite: RewriteMode = "concat",
    count_tokens: TokenCounter | None = None,
) -> QAChain:
    """Build the question-answering chain.

    Args:
        retriever: finds passages; ``KbRetriever`` puts the cosine similarity in ``metadata["score"]``.
        llm: the chat model that writes answers.
        max_context_tokens: cap on the numbered sources block, in the model's tokens.
        passage_tokens: cap per passage; longer ones are trimmed around their best-matching sentences.
        max_sources: most passages shown to the model.
        score_threshold: similarity that makes a passage evidence; with no evidence the chain refuses
            without calling the model.
        lexical_margin: how far below ``score_threshold`` a passage may score and still count, if it
            contains ``min_query_coverage`` of the query's content terms.
        min_query_coverage: fraction of the query's words and CJK bigrams such a passage must contain.
        relative_margin: passages scoring more than this below the best one are left out.
        cross_language_margin: how far below ``score_threshold`` a passage in another language than the
            question (an English question over Chinese text) may score and still count: no word can be
            shared across languages, so only the embedding speaks, and its similarities run lower.
        min_quote_coverage: share of the question's terms the best source sentence must hold before it
            replaces a refusal or an answer with unsupported figures (the extractive answer).
        context_window: the model's context length; defaults to ``llm.n_ctx`` if it has one, else 4096.
        max_answer_tokens: tokens kept free for the answer; defaults to ``llm.max_tokens``, else 384.
        history_turns: most earlier turns kept (for the rewrite and in the prompt).
        rewrite: how follow-ups become standalone queries: ``concat`` (default), ``llm`` or ``none``.
        count_tokens: token counter; defaults to ``llm.get_num_tokens`` (the model's own tokenizer).

    Returns:
        The chain.

    Raises:
        ConfigError: a budget leaves no room for the prompt.
    """
    window = context_window or int(getattr(llm, "n_ctx", 0) or 4096)
    reserve = max_answer_tokens or int(getattr(llm, "max_tokens", 0) or 384)
    if max_context_tokens <= 0 or passage_tokens <= 0 or max_sources <= 0:
        raise ConfigError("max_context_tokens, passage_tokens and max_sources must be positive")
    if window - reserve < 256:
        raise ConfigError(
            f"context window {window} minus {reserve} answer tokens leaves no room for sources; "
            "raise llm.context_window or lower llm.max_tokens"
        )
    return QAChain(
        retriever,
        llm,
        max_context_tokens=max_context_tokens,
        passage_tokens=passage_tokens,
        max_sources=max_sources,
        score_threshold=score_threshold,
        lexical_margin=lexical_margin,
        min_query_coverage=min_query_coverage,
        relative_margin=relative_margin,
        cross_language_margin=cross_language_margin,
        min_quote_coverage=min_quote_coverage,
        context_window=window,
        max_answer_tokens=reserve,
        history_turns=history_turns,
        rewrite=rewrite,
        count_tokens=count_tokens or llm.get_num_tokens,
    )
