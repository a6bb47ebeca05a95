"""The question in the other language (Chinese ↔ English), so retrieval finds passages written in it.

Neither half of hybrid retrieval crosses languages on its own: BM25 shares no word between an English
question and a Chinese table, and the bundled e5-small ranks such a passage below twenty same-language
ones (on the tuning questions, 7 of 17 cross-language questions had no answering passage in the top
20). Searching again with the question translated by the chat model put the answering passage first
for most of them.

The request is one short model call that starts with the answer prompt's own prefix (system message
and worked example, ``rag.prompt.prefix_messages``): llama.cpp keeps only the latest prompt's KV cache,
so a translation with a prefix of its own would make the answer that follows evaluate the whole
prefix again. The 0.5B model sometimes answers instead of translating; such a reply still names the
question's subject in the other language, which is all the search needs, once the figures it made up are
left out (on the tuning half that turned one more answer right and none wrong). It is never shown to the
user.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from langchain_core.messages import HumanMessage

from rag.language import Language
from rag.prompt import prefix_messages

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseChatModel
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableConfig

__all__ = ["search_both_languages", "translate_question"]

logger = logging.getLogger(__name__)

_MAX_TOKENS = 48
_REQUESTS: dict[Language, str] = {
    # Written in the language of the question, which the model then reads the request in.
    "en": "Translate into Chinese, reply with the translation only: {question}",
    "zh": "把下面的问题翻译成英文，只输出译文：{question}",
}
_MARKERS = re.compile(r"\s*\[\d+\]\s*")
_FIGURE = re.compile(r"\d+(?:[.,:]\d+)*")
_SPACES = re.compile(r"[ \t]{2,}")


def translate_question(
    llm: BaseChatModel, question: str, language: Language, config: RunnableConfig | None = None
) -> str | None:
    """``question`` (written in ``language``) in the other language; None when the model gives nothing new."""
    messages = [*prefix_messages(), HumanMessage(_REQUESTS[language].format(question=question))]
    reply = llm.invoke(messages, config=config, max_tokens=_MAX_TOKENS, stop=["\n"])
    translated = _without_new_figures(_MARKERS.sub(" ", reply.text), question).strip().strip("\"'“”")
    if not translated or translated.casefold() == question.strip().casefold():
        return None
    logger.debug("translated question chars=%d", len(translated))
    return translated


def _without_new_figures(translated: str, question: str) -> str:
    """``translated`` without the figures ``question`` does not hold.

    A translation adds no figure; one that does is the model answering ("ChatGLM-6B INT4 ... requires at
    least 16 GB"), and its made-up figure would steer the search to whichever passage states it.
    """
    asked = set(_FIGURE.findall(question))
    kept = _FIGURE.sub(lambda figure: figure.group(0) if figure.group(0) in asked else "", translated)
    return _SPACES.sub(" ", kept)


def search_both_languages(
    retriever: BaseRetriever,
    query: str,
    language: Language,
    translator: BaseChatModel | None,
    config: RunnableConfig | None = None,
) -> list[tuple[str, list[Document]]]:
    """``(query, documents)`` for the query and, when ``translator`` is given, for its translation.

    A search that found nothing (an empty knowledge base) is not translated: the model call would be spent
    on a search that cannot find anything either.
    """
    searches = [(query, retriever.invoke(query, config=config))]
    found = bool(searches[0][1])
    translated = translate_question(translator, query, language, config) if translator and found else None
    if translated:
        searches.append((translated, retriever.invoke(translated, config=config)))
    return searches
