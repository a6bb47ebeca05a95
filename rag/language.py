"""What kb knows about languages: Han characters, Chinese-or-not, stopwords, shared terms, token estimates.

One home for these so that "is this Chinese" means the same thing to the prompt, the BM25 tokenizer, the
answer checks and the follow-up detector.
"""

from __future__ import annotations

import re
from typing import Literal

import snowballstemmer

__all__ = [
    "CHINESE_STOPWORDS",
    "ENGLISH_STOPWORDS",
    "HAN_CHARACTERS",
    "QUESTION_STOPWORDS",
    "Language",
    "content_terms",
    "detect_language",
    "estimate_tokens",
    "han_count",
    "query_coverage",
]

Language = Literal["zh", "en"]

HAN_CHARACTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
"""Han ideographs as a regex class body: the basic block, extension A, compatibility, planes B-F."""

_HAN = re.compile(f"[{HAN_CHARACTERS}]")
_HAN_RUN = re.compile(f"[{HAN_CHARACTERS}]+")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_TERM_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# Characters a tokenizer spends about one token on: Han, kana, hangul and CJK punctuation.
_WIDE = re.compile(f"[{HAN_CHARACTERS}\u3000-\u30ff\uac00-\ud7af\uff00-\uffef]")

#: Words BM25 ignores in English text.
ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "she",
        "so",
        "such",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "we",
        "our",
        "not",
        "no",
        "do",
        "does",
        "did",
        "than",
        "those",
        "what",
        "when",
        "where",
        "how",
    ]
)

#: Words BM25 ignores in Chinese text (after jieba's segmentation).
CHINESE_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "就",
        "都",
        "而",
        "着",
        "吗",
        "呢",
        "吧",
        "啊",
        "么",
        "之",
        "其",
        "该",
        "这",
        "那",
        "这个",
        "那个",
        "一个",
        "我们",
        "你们",
        "他们",
    ]
)

#: Question words that say nothing about the topic ("what is", "how do I").
QUESTION_STOPWORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "why",
        "when",
        "where",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "i",
        "you",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "my",
        "your",
        "there",
        "about",
        "me",
        "please",
        "tell",
        "explain",
    ]
)


_UNSTEMMED = ENGLISH_STOPWORDS | QUESTION_STOPWORDS


def han_count(text: str) -> int:
    """How many Han characters ``text`` holds."""
    return len(_HAN.findall(text))


def detect_language(text: str) -> Language:
    """Guess whether a question is Chinese or not (English prompt and refusal otherwise).

    A question counts as Chinese when it has at least as many CJK characters as Latin words, so
    "ChatGLM-6B 需要多少显存？" is Chinese and "What does 显存 mean?" is English.
    """
    cjk = len(_HAN.findall(text))
    return "zh" if cjk and cjk >= len(_LATIN_WORD.findall(text)) else "en"


def content_terms(text: str) -> set[str]:
    """Lowercased words, numbers and CJK character bigrams: what two texts can have in common.

    A snake_case identifier counts whole and as its words: "KB_INGEST__CHUNK_SIZE" answers "chunk size";
    so does a hyphenated word without digits ("CPU-only" shares "CPU"; "ChatGLM-6B" names a model).
    English words count by their stem ("installed" shares "install" with the sentence that says what to
    install); stopwords stay as written, so the stopword lists still take them out.
    """
    lowered = text.lower()
    terms = {word.strip(".-") for word in _TERM_WORD.findall(lowered) if len(word) > 1}
    terms.update(part for word in list(terms) if "_" in word for part in word.split("_") if len(part) > 1)
    terms.update(
        part
        for word in list(terms)
        if "-" in word and not any(char.isdigit() for char in word)
        for part in word.split("-")
        if len(part) > 1
    )
    words = [term for term in terms if term.isascii() and term.isalpha() and term not in _UNSTEMMED]
    if words:
        terms.difference_update(words)
        terms.update(snowballstemmer.stemmer("english").stemWords(words))
    cjk_runs = _HAN_RUN.findall(lowered)
    for run in cjk_runs:
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            terms.add(run)
    return terms


def query_coverage(query: str, text: str) -> float:
    """Fraction of the query's content terms (words minus English stopwords, CJK bigrams) found in ``text``."""
    wanted = content_terms(query) - QUESTION_STOPWORDS
    if not wanted:
        return 0.0
    return len(wanted & content_terms(text)) / len(wanted)


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer: one per CJK character, one per three other characters."""
    wide = len(_WIDE.findall(text))
    return wide + (len(text) - wide + 2) // 3
