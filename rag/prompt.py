"""The answer prompt: short numbered passages under a token budget, plus parsing of what the model wrote.

The prompt is built for small local models. Measured on the ChatGLM-6B docs, a 0.5B model given four
whole 1,000-character chunks (~2,000 tokens) and a long "if you cannot answer, say ..." clause refused a
third of the questions whose answer it had in front of it. So the prompt here:

* keeps one fixed system message (identical on every call, so llama.cpp reuses its KV cache);
* shows few passages, best first, each trimmed to the sentences around its best match with the query,
  within a budget measured with the model's own tokenizer; passages that do not fit are dropped
  lowest-ranked first;
* asks, in the system message, for a short answer in the question's language with ``[n]`` citations, and
  ends the user message with the question itself; it never mentions refusing: whether to answer at all
  is decided before the model runs, from retrieval evidence (see ``rag.chain``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.language import Language, content_terms, detect_language

__all__ = [
    "STRICT_INSTRUCTION",
    "SYSTEM_PROMPT",
    "WORKED_EXAMPLE",
    "PromptPlan",
    "TokenCounter",
    "build_prompt",
    "prefix_messages",
    "refusal_text",
    "split_sentences",
    "trim_passage",
]

TokenCounter = Callable[[str], int]

SYSTEM_PROMPT = (
    "You answer questions about the user's documents from the numbered sources the user gives. "
    "Start with the fact asked for (the number, command, name or step), copied from the sources, "
    "in one or two sentences, in the language of the question, and cite the source number like [1]. "
    "Never repeat the question and never list the sources themselves."
)
"""The system message; never changes between calls, so llama.cpp evaluates it once and reuses its KV cache."""

WORKED_EXAMPLE: tuple[tuple[str, str], ...] = (
    (
        "[1] 图书馆周一至周五 8:00 开放，周末 10:00 开放。\n"
        "[2] Members can borrow up to 12 books for 21 days.\n"
        "Question: How many books can a member borrow?",
        "Up to 12 books, for 21 days [2].",
    ),
    (
        "[1] Members can borrow up to 12 books for 21 days.\n[2] 图书馆周一至周五 8:00 开放，周末 10:00 开放。\n问题：周末几点开馆？",
        "周末 10:00 开馆 [2]。",
    ),
)
"""Fixed user/assistant turns after the system message: they show the answer format (the fact first, a
marker, no echo of the question) and, being the same on every call, sit in the cached prompt prefix."""

STRICT_INSTRUCTION: dict[Language, str] = {
    "zh": "只用一句话回答，直接写出资料中回答问题的那句话或那个数字，并注明出处编号，例如 [1]。",
    "en": "Answer in one sentence: write the fact from the sources that answers the question, with its number, like [1].",
}
"""Put before the sources on the second, stricter try after a degenerate reply."""

_REFUSALS: dict[Language, str] = {
    "zh": "根据已知信息无法回答该问题。",
    "en": "I can't answer that from the indexed documents.",
}
# The user message ends with the question itself: given a trailing instruction ("answer in Chinese and
# cite like [1]"), the 0.5B model echoed the instruction or started with bare markers; with the question
# last it answered. The instructions live in the system message.
_HEADERS: dict[Language, tuple[str, str]] = {
    "zh": ("", "问题："),
    "en": ("", "Question: "),
}
_MESSAGE_OVERHEAD_TOKENS = 8  # chat-template tokens around each message (role markers, separators)
_MIN_PASSAGE_TOKENS = 40  # a passage trimmed shorter than this is more noise than evidence

_SENTENCE_END = frozenset("。！？；!?;")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def refusal_text(language: Language) -> str:
    """The fixed answer given when the knowledge base holds nothing relevant."""
    return _REFUSALS[language]


def split_sentences(text: str) -> list[str]:
    """Split text into sentences and lines, keeping every character (joined they give ``text`` back)."""
    pieces: list[str] = []
    start = 0
    length = len(text)
    i = 0
    while i < length:
        char = text[i]
        end = -1
        if char in _SENTENCE_END or char == "\n":
            end = i + 1
            while end < length and (text[end] in _SENTENCE_END or text[end] in "\n\"'”’」』）)"):
                end += 1
        elif char == "." and i + 1 < length and text[i + 1] in " \t" and i > 0 and text[i - 1].isalpha():
            end = i + 2
        if end > 0:
            pieces.append(text[start:end])
            start = i = end
            continue
        i += 1
    if start < length:
        pieces.append(text[start:])
    return pieces


def trim_passage(text: str, query: str, *, max_tokens: int, count_tokens: TokenCounter) -> str:
    """Shorten a passage to at most ``max_tokens`` around the sentences that best match ``query``.

    The best-matching sentence (most shared words and CJK bigrams; earliest on ties) is kept, then its
    neighbours are added, following sentence first, while the passage stays within budget. Omitted
    text is marked with "…".

    Args:
        text: the passage.
        query: the retrieval query.
        max_tokens: budget in the model's tokens.
        count_tokens: the model's token counter.

    Returns:
        The passage itself when it fits, else a contiguous excerpt of it (possibly cut mid-sentence
        when a single sentence is longer than the budget); "" when ``max_tokens`` is not positive.
    """
    text = _BLANK_LINES.sub("\n", text.strip())
    if max_tokens <= 0:
        return ""
    if count_tokens(text) <= max_tokens:
        return text
    sentences = split_sentences(text)
    query_terms = content_terms(query)
    overlaps = [len(content_terms(sentence) & query_terms) for sentence in sentences]
    best = max(range(len(sentences)), key=lambda i: (overlaps[i], -i))
    first = last = best
    excerpt = _excerpt(sentences, first, last)
    if count_tokens(excerpt) > max_tokens:
        return _cut(sentences[best].strip(), max_tokens, count_tokens)
    grew = True
    while grew:
        grew = False
        for candidate in ((first, last + 1), (first - 1, last)):
            lo, hi = candidate
            if lo < 0 or hi >= len(sentences):
                continue
            longer = _excerpt(sentences, lo, hi)
            if count_tokens(longer) <= max_tokens:
                first, last, excerpt, grew = lo, hi, longer, True
    return excerpt


def _excerpt(sentences: Sequence[str], first: int, last: int) -> str:
    body = "".join(sentences[first : last + 1]).strip()
    prefix = "…" if first > 0 else ""
    suffix = "…" if last < len(sentences) - 1 else ""
    return f"{prefix}{body}{suffix}"


def _cut(sentence: str, max_tokens: int, count_tokens: TokenCounter) -> str:
    keep = len(sentence)
    while keep > 0:
        candidate = sentence[:keep].rstrip() + "…"
        tokens = count_tokens(candidate)
        if tokens <= max_tokens:
            return candidate
        keep = min(keep - 1, int(keep * max_tokens / tokens))
    return ""


@dataclass(frozen=True)
class PromptPlan:
    """The messages to send and which retrieved documents made it into them.

    Attributes:
        messages: system message, kept history turns, then the user message with sources and question.
        documents: the documents shown, best first; ``documents[i]`` is source ``[i + 1]``.
        passages: the (possibly trimmed) passage texts shown, parallel to ``documents``.
        context_tokens: tokens taken by the numbered sources block.
        prompt_tokens: estimated tokens of the whole prompt (contents plus template overhead).
    """

    messages: list[BaseMessage]
    documents: list[Document]
    passages: list[str]
    context_tokens: int
    prompt_tokens: int


def _EXAMPLE_TOKENS(count_tokens: TokenCounter) -> int:  # noqa: N802 - reads as the constant it computes
    return sum(
        count_tokens(user) + count_tokens(reply) + 2 * _MESSAGE_OVERHEAD_TOKENS
        for user, reply in WORKED_EXAMPLE
    )


def prefix_messages() -> list[BaseMessage]:
    """The system message and the worked example: the same on every model call, so cached once.

    Every short call kb makes to the model (the answer, the question's translation) starts with these,
    so llama.cpp's KV cache, which keeps only the latest prompt, never has to evaluate them again.
    """
    messages: list[BaseMessage] = [SystemMessage(SYSTEM_PROMPT)]
    for user, reply in WORKED_EXAMPLE:
        messages.extend((HumanMessage(user), AIMessage(reply)))
    return messages


def _label(n: int) -> str:
    # Only the number, on the passage's first line: a label line with a file name is what the 0.5B
    # model copied instead of answering ("[1] README.md\n[2] README.md").
    return f"[{n}]"


def _user_message(language: Language, blocks: Sequence[str], question: str, strict: bool = False) -> str:
    _, question_header = _HEADERS[language]
    body = "\n".join(blocks)
    # The stricter instruction goes first: after the question, the 0.5B model copied it as its answer.
    head = f"{STRICT_INSTRUCTION[language]}\n" if strict else ""
    return f"{head}{body}\n{question_header}{question}"


def build_prompt(
    question: str,
    documents: Sequence[Document],
    *,
    count_tokens: TokenCounter,
    retrieval_query: str | None = None,
    history: Sequence[tuple[str, str]] = (),
    language: Language | None = None,
    max_context_tokens: int = 360,
    passage_tokens: int = 150,
    context_window: int = 4096,
    reserve_tokens: int = 384,
    strict: bool = False,
) -> PromptPlan:
    """Build the answer prompt within a token budget.

    The sources block gets ``min(max_context_tokens, context_window - reserve_tokens - everything else)``
    tokens. Documents are taken best first, each trimmed to ``passage_tokens`` around its best match with
    the query; the first one that no longer fits (even trimmed to the space left, if that is at least 40
    tokens) ends the list, so lower-ranked documents are always the ones dropped. History turns are
    dropped oldest first when they would leave no room for sources.

    Args:
        question: the user's question, as asked.
        documents: retrieved documents, best first.
        count_tokens: the model's token counter (``llm.get_num_tokens``).
        retrieval_query: the standalone query (used to pick sentences); defaults to ``question``.
        history: earlier (user, assistant) turns to keep in the conversation, oldest first.
        language: answer language; detected from ``question`` when None.
        max_context_tokens: cap on the sources block.
        passage_tokens: cap per passage.
        context_window: the model's context length.
        reserve_tokens: tokens kept free for the answer.
        strict: start the message with ``STRICT_INSTRUCTION`` (the retry after a degenerate reply).

    Returns:
        The messages and the documents they show.
    """
    language = language or detect_language(question)
    query = retrieval_query or question
    fixed = (
        _EXAMPLE_TOKENS(count_tokens)
        + count_tokens(SYSTEM_PROMPT)
        + count_tokens(_user_message(language, [], question, strict))
        + 2 * _MESSAGE_OVERHEAD_TOKENS
    )
    turns = list(history)
    turn_tokens = [
        count_tokens(user) + count_tokens(reply) + 2 * _MESSAGE_OVERHEAD_TOKENS for user, reply in turns
    ]
    room = context_window - reserve_tokens - fixed
    while turns and room - sum(turn_tokens) < min(max_context_tokens, _MIN_PASSAGE_TOKENS * 2):
        turns.pop(0)
        turn_tokens.pop(0)
    budget = max(0, min(max_context_tokens, room - sum(turn_tokens)))

    shown: list[Document] = []
    passages: list[str] = []
    blocks: list[str] = []
    used = 0
    for doc in documents:
        n = len(shown) + 1
        label = _label(n)
        separator = 1 if blocks else 0  # the newline between blocks
        space = budget - used - separator - count_tokens(label) - 1
        limit = min(passage_tokens, space)
        if limit < _MIN_PASSAGE_TOKENS:
            break
        passage = trim_passage(doc.page_content, query, max_tokens=limit, count_tokens=count_tokens)
        if not passage:
            break
        block = f"{label} {passage}"
        cost = count_tokens(block) + separator
        if used + cost > budget:
            break
        shown.append(doc)
        passages.append(passage)
        blocks.append(block)
        used += cost
    # Per-block counts can differ from the count of the joined text at the seams; recheck the whole.
    while blocks and count_tokens("\n".join(blocks)) > budget:
        blocks.pop()
        passages.pop()
        shown.pop()
    context_tokens = count_tokens("\n".join(blocks)) if blocks else 0

    messages = prefix_messages()
    for user, reply in turns:
        messages.extend((HumanMessage(user), AIMessage(reply)))
    user_text = _user_message(language, blocks, question, strict)
    messages.append(HumanMessage(user_text))
    prompt_tokens = (
        _EXAMPLE_TOKENS(count_tokens)
        + count_tokens(SYSTEM_PROMPT)
        + count_tokens(user_text)
        + sum(turn_tokens)
        + 2 * _MESSAGE_OVERHEAD_TOKENS
    )
    return PromptPlan(messages, shown, passages, context_tokens, prompt_tokens)
