"""``QAChain``: retrieve, decide from the scores whether to answer, prompt the model, cite the sources.

Pipeline for one question:

1. **Standalone query.** With history, a short follow-up ("那 INT8 呢？") becomes a query that stands
   alone: ``rewrite="concat"`` (default, free) prefixes the previous user turn; ``rewrite="llm"`` asks
   the chat model, a second model call on a CPU, so it is opt-in (``rag.followup``).
2. **Retrieve and gate** (``rag.evidence``), also with the question translated (``rag.translation``):
   with no passage close enough, a fixed refusal in the question's language, and no answer is generated.
3. **Prompt** (``rag.prompt.build_prompt``): few, short, best-first passages under a token budget.
4. **Generate** with streaming; a degenerate reply (``rag.replies``) gives way to a quote of the source
   sentence that covers the question, or, when none does, is retried once with a stricter prompt.
5. **Judge** the reply against the sources (``rag.verdict``), quote them, report usage and timings.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import get_config_list

from kbtypes.answer import Answer, AnswerEvent, AnswerMode, SourcesEvent, TokenEvent
from kbtypes.errors import ConfigError
from rag.citations import resolve_citations
from rag.evidence import EvidenceGate
from rag.followup import QAInput, is_follow_up, parse_input, rewrite_with_model, standalone_query
from rag.language import Language, detect_language, estimate_tokens
from rag.llms import counts_tokens_locally
from rag.prompt import STRICT_INSTRUCTION, PromptPlan, TokenCounter, build_prompt, refusal_text
from rag.quotes import extractive_answer, quoted_source, source_from_document
from rag.replies import stream_reply
from rag.translation import search_both_languages
from rag.verdict import judge

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForChainRun
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.retrievers import BaseRetriever

__all__ = ["QAChain", "QAInput", "RewriteMode", "make_qa_chain", "standalone_query"]

logger = logging.getLogger(__name__)

RewriteMode = Literal["concat", "llm", "none"]


class QAChain(Runnable[QAInput, Answer]):
    """Question answering over a retriever with a chat model, as a LangChain ``Runnable``.

    ``invoke`` returns an ``Answer``; ``stream`` yields answer text pieces (``str``) and, last, the
    ``Answer``; ``events`` yields a ``SourcesEvent`` right after retrieval, then ``TokenEvent``s, then the
    ``Answer``. Closing either iterator early stops the model's generation.

    Example:
        .. code-block:: python

            chain = make_qa_chain(kb.retriever(), kb.chat_model(), answer_threshold=0.83)
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
        gate: EvidenceGate,
        min_quote_coverage: float,
        context_window: int,
        max_answer_tokens: int,
        history_turns: int,
        rewrite: RewriteMode,
        count_tokens: TokenCounter,
        translate: bool,
    ) -> None:
        """Use ``make_qa_chain``, which documents the arguments and fills in defaults."""
        self.retriever = retriever
        self.llm = llm
        self.max_context_tokens = max_context_tokens
        self.passage_tokens = passage_tokens
        self.gate = gate
        self.min_quote_coverage = min_quote_coverage
        self.context_window = context_window
        self.max_answer_tokens = max_answer_tokens
        self.history_turns = history_turns
        self.rewrite = rewrite
        self.count_tokens = count_tokens
        self.translate = translate

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
        """Yield answer text (``str`` pieces) as it is generated, then the final ``Answer``.

        Args:
            input: a question, or ``{"question": ..., "history": [...]}``.
            config: LangChain run config.
            **kwargs: unused.
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

        A local model generates one answer at a time: parallel questions would only queue on it.
        """
        configs: list[RunnableConfig] = []
        for one in get_config_list(config, len(inputs)):
            one["max_concurrency"] = one.get("max_concurrency") or 1
            configs.append(one)
        return super().batch(inputs, configs, return_exceptions=return_exceptions, **kwargs)

    def events(
        self, input: QAInput, *, config: RunnableConfig | None = None
    ) -> Generator[AnswerEvent, None, None]:
        """Answer one question as a stream of events.

        Args:
            input: a question, or ``{"question": ..., "history": [...]}``.
            config: LangChain run config for the retriever and model calls.

        Yields:
            A ``SourcesEvent`` (after retrieval), ``TokenEvent``s, then the ``Answer``; closing stops it.
        """
        started = time.perf_counter()
        question, history = parse_input(input)
        language = detect_language(question)
        history = history[-self.history_turns :] if self.history_turns else []
        timings: dict[str, float] = {}

        query = self._standalone_query(question, history, config)
        timings["rewrite_s"] = time.perf_counter() - started
        translator = self.llm if self.translate else None  # a second, short model call
        searches = search_both_languages(self.retriever, query, language, translator, config)
        documents = self.gate.select_across(searches)
        asked = [text for text, _ in searches]  # the question, and its translation when there is one
        timings["retrieve_s"] = time.perf_counter() - started - timings["rewrite_s"]

        if not documents:
            text = refusal_text(language)
            yield SourcesEvent(sources=[])
            timings["first_token_s"] = time.perf_counter() - started
            yield TokenEvent(text=text)
            timings["total_s"] = time.perf_counter() - started
            logger.info("refused reason=no_relevant_passage query_len=%d", len(query))
            usage = {"prompt_tokens": 0, "completion_tokens": 0}
            yield Answer(answer=text, sources=[], refused=True, usage=usage, timings=timings, query=query)
            return

        plan = self._plan(question, documents, " ".join(asked), history, language)
        sources = [source_from_document(n, doc) for n, doc in enumerate(plan.documents, start=1)]
        yield SourcesEvent(sources=sources)

        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        names = [source.source for source in sources]
        # Judged against the sources as written: the prompt's excerpts lose the blank lines around titles.
        chunks = [doc.page_content for doc in plan.documents]
        reply = functools.partial(
            stream_reply,
            self.llm,
            names=names,
            passages=chunks,
            usage=usage,
            timings=timings,
            started=started,
            config=config,
            count_tokens=self.count_tokens,
        )
        first = yield from reply(plan.messages, question=question)
        answer, cited = resolve_citations(first.text, len(sources))
        answer = answer.strip()
        degenerate = first.degenerate
        mode: AnswerMode = "generated"
        extract = extractive_answer(question, chunks, also=asked[1:]) if degenerate else None
        if extract is not None and extract.quote.coverage >= self.min_quote_coverage:
            # On the tuning half a retry was right 1 time in 7, a quote that covers the question 1 in 2.
            logger.info("extractive answer reason=%s", degenerate)
            answer, cited, mode = "", [], "extractive"
        elif degenerate:
            logger.info("retrying reason=%s", degenerate)
            strict = self._plan(question, documents, " ".join(asked), history, language, strict=True)
            # Restating the stricter instruction is an echo too.
            restated = f"{question} {STRICT_INSTRUCTION[language]}"
            retry = yield from reply(strict.messages, question=restated, emit=not first.shown)
            answer, cited = resolve_citations(retry.text, len(sources))
            answer, mode = answer.strip(), "extractive" if retry.degenerate else "retried"
        usage["prompt_tokens"] = usage["prompt_tokens"] or plan.prompt_tokens

        verdict = judge(
            answer,
            cited,
            mode,
            question=question,
            also=asked[1:],
            chunks=chunks,
            passages=plan.passages,
            language=language,
            min_quote_coverage=self.min_quote_coverage,
            extract=extract,
        )
        answer, cited, mode = verdict.answer, verdict.cited, verdict.mode
        sources = [
            quoted_source(source, question, answer if source.n in cited else None) for source in sources
        ]
        timings.setdefault("first_token_s", time.perf_counter() - started)
        timings["total_s"] = time.perf_counter() - started
        logger.info(
            "answered sources=%d cited=%s mode=%s degenerate=%s unsupported=%d prompt_tokens=%d "
            "completion_tokens=%d total_s=%.2f",
            len(sources),
            cited,
            mode,
            degenerate,
            len(verdict.unsupported),
            usage["prompt_tokens"],
            usage["completion_tokens"],
            timings["total_s"],
        )
        yield Answer(
            answer=answer,
            sources=sources,
            refused=verdict.refused,
            usage=usage,
            timings=timings,
            query=query,
            mode=mode,
            grounded=not verdict.unsupported,
            unsupported=verdict.unsupported,
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

    def _standalone_query(
        self, question: str, history: Sequence[tuple[str, str]], config: RunnableConfig | None
    ) -> str:
        if not history or self.rewrite == "none":
            return question
        if self.rewrite == "concat" or not is_follow_up(question, detect_language(question)):
            return standalone_query(question, history)
        return rewrite_with_model(self.llm, question, history, config)


def make_qa_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel,
    *,
    max_context_tokens: int = 360,
    passage_tokens: int = 150,
    max_sources: int = 3,
    answer_threshold: float = 0.0,
    focus_threshold: float = 0.0,
    english_margin: float = 0.0,
    lexical_margin: float = 0.02,
    min_query_coverage: float = 0.5,
    relative_margin: float = 0.05,
    cross_language_margin: float = 0.07,
    min_quote_coverage: float = 0.4,
    context_window: int | None = None,
    max_answer_tokens: int | None = None,
    history_turns: int = 2,
    rewrite: RewriteMode = "concat",
    count_tokens: TokenCounter | None = None,
    translate: bool = False,
) -> QAChain:
    """Build the question-answering chain.

    Args:
        retriever: finds passages; ``KbRetriever`` puts the cosine similarity in ``metadata["score"]``.
        llm: the chat model that writes answers.
        max_context_tokens: cap on the numbered sources block, in the model's tokens.
        passage_tokens: cap per passage; longer ones are trimmed around their best-matching sentences.
        max_sources: most passages shown to the model.
        answer_threshold: similarity that makes a passage evidence; with no evidence the chain refuses
            without calling the model (``rag.evidence``).
        focus_threshold: similarity at which every passage reaching it is shown; else only the best one.
        english_margin: how much lower the threshold is for English questions (e5 scores English lower).
        lexical_margin: how far below ``answer_threshold`` a passage may score and still count, if it
            contains ``min_query_coverage`` of the query's content terms.
        min_query_coverage: fraction of the query's words and CJK bigrams such a passage must contain.
        relative_margin: passages scoring more than this below the best one are left out.
        cross_language_margin: how far below ``answer_threshold`` a passage in another language than the
            query may score and still count: no word is shared, so only the embedding speaks, and lower.
        min_quote_coverage: share of the question's terms a source sentence needs to be the answer.
        context_window: the model's context length; defaults to ``llm.n_ctx`` if it has one, else 4096.
        max_answer_tokens: tokens kept free for the answer; defaults to ``llm.max_tokens``, else 384.
        history_turns: most earlier turns kept (for the rewrite and in the prompt).
        rewrite: how follow-ups become standalone queries: ``concat`` (default), ``llm`` or ``none``.
        count_tokens: token counter; defaults to the model's own tokenizer for local models and to an
            estimate for remote ones (theirs would use tiktoken, which downloads files: fails offline).
        translate: also search with the question translated (zh ↔ en) by ``llm``, one short call.

    Returns:
        The chain.

    Raises:
        ConfigError: a budget leaves no room for the prompt.
    """
    if count_tokens is None:
        count_tokens = llm.get_num_tokens if counts_tokens_locally(llm) else estimate_tokens
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
        gate=EvidenceGate(
            answer_threshold=answer_threshold,
            focus_threshold=focus_threshold,
            english_margin=english_margin,
            lexical_margin=lexical_margin,
            min_query_coverage=min_query_coverage,
            relative_margin=relative_margin,
            cross_language_margin=cross_language_margin,
            max_sources=max_sources,
        ),
        min_quote_coverage=min_quote_coverage,
        context_window=window,
        max_answer_tokens=reserve,
        history_turns=history_turns,
        rewrite=rewrite,
        count_tokens=count_tokens,
        translate=translate,
    )
