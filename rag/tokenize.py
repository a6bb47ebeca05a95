"""Word tokenizer for lexical (BM25) retrieval of Chinese and other languages."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from typing import TYPE_CHECKING

from rag.language import CHINESE_STOPWORDS, ENGLISH_STOPWORDS, HAN_CHARACTERS

if TYPE_CHECKING:
    import jieba

__all__ = ["TOKENIZER_VERSION", "tokenize"]

logger = logging.getLogger(__name__)

TOKENIZER_VERSION = 1
"""Bumped whenever ``tokenize`` changes its output; indexes built with another version must be rebuilt."""

_HAN_RUN = re.compile(f"[{HAN_CHARACTERS}]+")
# Outside Han runs: decimals and versions ("3.14", "1.2.3") stay whole so exact numbers match;
# otherwise a token is a run of letters and digits (underscore and punctuation separate tokens).
_WORD = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")


_segmenter: jieba.Tokenizer | None = None
_segmenter_lock = threading.Lock()


def _jieba() -> jieba.Tokenizer:
    """Return the process-wide jieba segmenter, loading its dictionary on first use."""
    global _segmenter
    if _segmenter is None:
        with _segmenter_lock:
            if _segmenter is None:
                import jieba

                # jieba attaches a DEBUG-level stderr handler to its own logger at import and reports
                # dictionary loading through it; its public setLogLevel hook is the way to silence it.
                jieba.setLogLevel(logging.WARNING)
                segmenter = jieba.Tokenizer()
                segmenter.initialize()
                logger.debug("loaded jieba dictionary words=%d", len(segmenter.FREQ))
                _segmenter = segmenter
    return _segmenter


def tokenize(text: str) -> list[str]:
    """Split text into normalised search tokens.

    The text is NFKC-normalised and casefolded. Runs of Chinese characters are segmented by jieba in
    search-engine mode, which emits both long words and the shorter words inside them, so a query for
    a part of a compound still matches. Other text is split on anything that is not a letter or digit;
    decimal numbers and dotted versions stay whole. Common English and Chinese function words are
    dropped. The output is deterministic for a given ``TOKENIZER_VERSION``.

    Args:
        text: Any Unicode text.

    Returns:
        The tokens in text order; may contain repeats and may be empty.
    """
    normalised = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    position = 0
    for han in _HAN_RUN.finditer(normalised):
        _add_words(normalised[position : han.start()], tokens)
        tokens.extend(
            word for word in _jieba().lcut_for_search(han.group(), HMM=True) if word not in CHINESE_STOPWORDS
        )
        position = han.end()
    _add_words(normalised[position:], tokens)
    return tokens


def _add_words(segment: str, tokens: list[str]) -> None:
    tokens.extend(word for word in _WORD.findall(segment) if word not in ENGLISH_STOPWORDS)
