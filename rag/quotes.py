"""Quotes: the exact sentence(s) of a passage that support an answer, and answers built from them.

A quote is a span of the chunk text, found by matching the answer and the question against the
passage's sentences (Chinese and English sentence ends; every line is its own sentence, so a table row
is one). Offsets count characters of the chunk text; adding the chunk's ``start`` metadata gives the
offset in the document kb extracted.

The same sentence scoring builds the *extractive* answer: when the model's reply cannot be trusted, the
best-supported sentence of the shown passages is the answer, quoted and cited.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kbtypes.answer import Source
from rag.language import ENGLISH_STOPWORDS, QUESTION_STOPWORDS, content_terms
from rag.prompt import split_sentences

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = [
    "ExtractiveAnswer",
    "Quote",
    "asks_for_a_figure",
    "best_quote",
    "contradicts",
    "covered",
    "extractive_answer",
    "ignores",
    "is_heading",
    "quoted_source",
    "sentence_spans",
    "source_from_document",
    "strays",
]

#: A figure: digits not glued to letters before them ("6" in "6 GB", not in "ChatGLM-6B", "INT4" or "FP16",
#: which name things; a question about "INT4" says nothing about which figure answers it).
_NUMBER = re.compile(r"(?<![A-Za-z\d.])(?<![A-Za-z]-)\d+(?:\.\d+)?")
#: A hyphenated name that holds digits (ChatGLM2-6B, Qwen2.5-Coder-0.5B, BLEU-4): its digits name it.
_HYPHENATED_NAME = re.compile(r"[A-Za-z][A-Za-z\d.]*(?:-[A-Za-z\d.]+)+")
_ASKS_FOR_A_FIGURE = re.compile(
    r"多少|几[个岁天次层种位月号点]|多大|多长|多久|哪一?[年天]"
    r"|(?i:\bhow\s+(?:many|much|long|large|big)\b|\bwhat\s+(?:size|date|year|day)\b"
    r"|^\s*when\s+(?:was|were|did)\b)"
)
_TABLE_RULE = re.compile(r"^[\s|:\-–—+=]*$")
_MIN_SENTENCE_CHARS = 2
_HEADING_CHARS = 40
_SENTENCE_ENDS = tuple("。！？.!?；;")
_LEAD_IN_ENDS = (":", "：")
#: Words that relate a line to a question by grammar alone ("blocks per batch", "upload per file", "how much").
_FUNCTION_WORDS = QUESTION_STOPWORDS | ENGLISH_STOPWORDS | content_terms("per each every much many")
_ANSWER_WEIGHT = 2.0  # the answer's words say more about the supporting sentence than the question's


@dataclass(frozen=True)
class Quote:
    """A supporting span of one passage.

    Attributes:
        text: the quoted characters, ``passage[start:end]``.
        start: offset of the first character in the passage (chunk) text.
        end: offset just past the last character.
        score: how well the span matched (shared terms, weighted; 0 = nothing shared).
        coverage: share of the question's content terms found in the span.
    """

    text: str
    start: int
    end: int
    score: float
    coverage: float


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence or line of ``text``, surrounding whitespace excluded.

    Lines that hold only table rules (``|---|---|``) or punctuation are skipped.
    """
    spans: list[tuple[int, int]] = []
    offset = 0
    for piece in split_sentences(text):
        stripped = piece.strip()
        if len(stripped) >= _MIN_SENTENCE_CHARS and not _TABLE_RULE.match(stripped):
            lead = len(piece) - len(piece.lstrip())
            spans.append((offset + lead, offset + lead + len(stripped)))
        offset += len(piece)
    return spans


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(_HYPHENATED_NAME.sub(" ", text)))


def _score(
    sentence: str, question_terms: set[str], answer_terms: set[str], answer_numbers: set[str]
) -> float:
    terms = content_terms(sentence)
    if not terms:
        return 0.0
    shared = len(terms & question_terms) + _ANSWER_WEIGHT * len(terms & answer_terms)
    shared += _ANSWER_WEIGHT * len(_numbers(sentence) & answer_numbers)
    # Long sentences share more by chance; dampen by length so the precise sentence wins.
    return shared / math.sqrt(max(4, len(terms)))


def covered(question: str, text: str) -> float:
    """Share of ``question``'s content terms that ``text`` holds (0.0 for a question without any)."""
    question_terms = content_terms(question)
    return len(content_terms(text) & question_terms) / len(question_terms) if question_terms else 0.0


def best_quote(
    passage: str, question: str, answer: str = "", *, informative: bool = False, figure: bool = False
) -> Quote | None:
    """The sentence of ``passage`` that best supports ``answer`` to ``question``; None when nothing matches.

    Ties go to the earlier sentence. A table row is quoted alone (its header is context, not support).
    With ``informative``, sentences that are questions themselves or add nothing to the question's words
    (headings, example questions) are skipped: they match the question best and answer it least. With
    ``figure``, only sentences that state a figure the question does not hold are candidates.
    """
    spans = sentence_spans(passage)
    if not spans:
        return None
    question_terms = content_terms(question)
    answer_terms = content_terms(_strip_markers(answer))
    question_numbers = _numbers(question)
    answer_numbers = _numbers(_strip_markers(answer)) - question_numbers
    best: Quote | None = None
    for index, (start, end) in enumerate(spans):
        sentence = passage[start:end]
        if _is_table_header(passage, spans, index):
            continue  # a header names the columns; the rows under it hold the facts
        header = _table_header(passage, start) if "|" in sentence else None
        scored = f"{header}\n{sentence}" if header else sentence
        if informative and (
            _uninformative(sentence, question_terms, question_numbers)
            or (is_heading(passage, start, end) and not _numbers(sentence))
        ):
            continue
        if figure and not _numbers(scored) - question_numbers:
            continue
        score = _score(scored, question_terms, answer_terms, answer_numbers)
        if score > 0 and (best is None or score > best.score):
            best = Quote(sentence, start, end, score, coverage=covered(question, scored))
    return best


def asks_for_a_figure(question: str) -> bool:
    """The question asks for a quantity or a date ("多少", "几月几号", "how many", "when was").

    Only a sentence with a figure answers it.
    """
    return bool(_ASKS_FOR_A_FIGURE.search(question))


def contradicts(answer: str, question: str, quote: Quote) -> bool:
    """``answer`` gives figures for a figure question, and none of them is in ``quote``, which states some.

    ``quote`` is the source sentence that best answers the question; an answer whose figure stands only
    elsewhere in the sources took it from a neighbouring fact (ChatGLM-6B's "1T" tokens given for
    ChatGLM2-6B, whose sentence says "1.4T").
    """
    if not asks_for_a_figure(question):
        return False
    asked = _numbers(question)
    stated = _numbers(quote.text) - asked
    given = _numbers(_strip_markers(answer)) - asked
    return bool(stated) and bool(given) and not stated & given


def strays(answer: str, wordings: Sequence[str], passages: Sequence[str]) -> bool:
    """For a figure question, every figure ``answer`` gives stands only in lines unrelated to the question.

    A line is related when it shares a word with a wording of the question (``wordings``: the question and
    its translation) that stands in fewer than half of the shown lines ("kb" names every settings row).
    The small model answers "kb 嵌入时默认每批处理多少个切块" with the 50 of the upload-size row: the figure
    is in a source, so it is grounded, but nothing about batches stands beside it. Unlike ``contradicts``
    this holds across languages: the translation meets an English row where the Chinese question cannot.
    Within one focused passage the question's own words can stand in half its lines too, and a right
    figure then strays (seen on the held-out half with the quality model; not yet handled).
    """
    if not any(asks_for_a_figure(asked) for asked in wordings):
        return False
    asked_numbers = set().union(*(_numbers(asked) for asked in wordings))
    given = _numbers(_strip_markers(answer)) - asked_numbers
    lines = [passage[start:end] for passage in passages for start, end in sentence_spans(passage)]
    line_terms = [content_terms(line) for line in lines]
    # A word in half the lines or more names the whole table ("kb", "default" in every settings row).
    counts = Counter(term for terms in line_terms for term in terms)
    everywhere = {term for term, count in counts.items() if count >= max(2, len(lines) / 2)}
    wanted = set().union(*(content_terms(asked) for asked in wordings)) - everywhere - _FUNCTION_WORDS
    holders = [terms for line, terms in zip(lines, line_terms, strict=True) if _numbers(line) & given]
    return bool(wanted and holders) and not any(terms & wanted for terms in holders)


def ignores(answer: str, quote: Quote, question: str) -> bool:
    """``answer`` shares not one of the words ``quote`` adds to ``question``.

    ``quote`` is the source sentence that best answers the question; an answer without any of what that
    sentence says beyond the question took its words from elsewhere ("还需要安装以下依赖", a list's lead-in,
    for the sentence that names the two packages).
    """
    news = content_terms(quote.text) - content_terms(question) - QUESTION_STOPWORDS
    return bool(news) and not news & content_terms(_strip_markers(answer))


def _uninformative(sentence: str, question_terms: set[str], question_numbers: set[str]) -> bool:
    if sentence.rstrip("\"'”’」*` ").endswith(("?", "？")):
        return True
    if _numbers(sentence) - question_numbers:
        return (
            False  # a figure the question does not hold: "| INT4 | 6 GB | 7 GB |" answers "INT4 要多少显存"
        )
    return len(content_terms(sentence) - question_terms) < 2


def is_heading(passage: str, start: int, end: int) -> bool:
    """``passage[start:end]`` is a title or command line: short, alone between blank lines, no sentence end.

    A reply that is only such a line stands where the fact should be, and a quote of one answers nothing.
    """
    before, after = passage[:start].rstrip(" \t"), passage[end:].lstrip(" \t")
    alone = (not before or before.endswith("\n\n")) and (not after or after.startswith("\n\n"))
    line = passage[start:end].lstrip("#").strip()
    return alone and 0 < len(line) <= _HEADING_CHARS and not line.endswith(_SENTENCE_ENDS)


def _is_table_header(passage: str, spans: Sequence[tuple[int, int]], index: int) -> bool:
    start, end = spans[index]
    if "|" not in passage[start:end] or index + 1 >= len(spans):
        return False
    following = passage[spans[index + 1][0] : spans[index + 1][1]]
    return "|" in following and _table_header(passage, start) is None


def _strip_markers(text: str) -> str:
    return re.sub(r"\[\d+\]", " ", text)


def _table_header(passage: str, row_start: int) -> str | None:
    """The first line of the table block a row belongs to, when the row is not itself that line."""
    lines_before = passage[:row_start].split("\n")
    block: list[str] = []
    for line in reversed(lines_before[:-1]):
        if "|" not in line:
            break
        block.append(line.strip())
    header = next((line for line in reversed(block) if not _TABLE_RULE.match(line)), None)
    return header


@dataclass(frozen=True)
class ExtractiveAnswer:
    """An answer made of a passage's own sentence: which passage (1-based) and what it says."""

    n: int
    quote: Quote
    text: str


def extractive_answer(
    question: str, passages: Sequence[str], also: Sequence[str] = ()
) -> ExtractiveAnswer | None:
    """The shown passage sentence that best answers ``question``, as a cited answer text.

    Passages are best-ranked first; a later passage wins only with a strictly better match. A table row
    comes with its header line so the figures keep their meaning, and a sentence that ends in a colon with
    the line it introduces; titles are never the answer. A question that asks for a quantity
    ("多少", "how many") is answered only by a sentence holding a figure the question does not.

    ``also`` holds other wordings of the question (its translation): an English question shares no word
    with a Chinese passage, its translation does. The wording whose sentence covers most of it wins.
    """
    wordings = (question, *also)
    # Asked for a quantity in any wording, the answer holds a figure whichever wording found its sentence.
    wants_figure = any(asks_for_a_figure(asked) for asked in wordings)
    found = [
        one for one in (_extract(asked, passages, wants_figure) for asked in wordings) if one is not None
    ]
    return max(found, key=lambda one: one.quote.coverage, default=None)


def _extract(question: str, passages: Sequence[str], wants_figure: bool) -> ExtractiveAnswer | None:
    best: tuple[int, Quote] | None = None
    for n, passage in enumerate(passages, start=1):
        quote = best_quote(passage, question, informative=True, figure=wants_figure)
        if quote is not None and (best is None or quote.score > best[1].score):
            best = (n, quote)
    if best is None:
        return None
    n, quote = best
    body = quote.text
    if body.endswith(_LEAD_IN_ENDS):
        # "…需要指定 evaluate.sh 中的参数：" announces what follows; the answer is the two together.
        following = [span for span in sentence_spans(passages[n - 1]) if span[0] >= quote.end][:1]
        body += "".join(f"\n{passages[n - 1][a:b]}" for a, b in following)
    if "|" in body:
        header = _table_header(passages[n - 1], quote.start)
        if header and header != body:
            body = f"{header}\n{body}"
    return ExtractiveAnswer(n=n, quote=quote, text=f"{body} [{n}]")


def quoted_source(source: Source, question: str, answer: str | None) -> Source:
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


def source_from_document(n: int, doc: Document) -> Source:
    """The ``Source`` numbered ``n`` for a retrieved document (its metadata as ``KbRetriever`` sets it)."""
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
