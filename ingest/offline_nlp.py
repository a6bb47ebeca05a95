"""Keep ``unstructured`` offline: no telemetry ping and no spaCy model download.

``unstructured`` classifies text elements (title vs narrative text) with spaCy. On first use,
``unstructured.nlp.tokenize._get_nlp`` calls ``spacy.load("en_core_web_sm")`` and, when that
model is not installed, downloads its wheel from GitHub and installs it into site-packages.
Offline that download fails, so txt/md/html/docx partitioning raises, and it can block for up to
the library's 120 s socket timeout where the network drops packets instead of refusing them.

The model is not published on PyPI by its authors (only unofficial re-uploads exist), so it cannot
be installed from a package we trust. Instead :func:`ensure_offline_nlp` replaces that one loader
with a blank English spaCy pipeline plus spaCy's rule-based ``sentencizer``: sentence splitting
and tokenization still work, part-of-speech tags are empty. kb only uses the *text* of the
elements, so the coarser element categories this gives do not matter to it.

This is the only module that touches ``unstructured`` internals; ``tests/unit/ingest/
test_offline_nlp.py`` fails if the hooked function disappears or changes shape.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["blank_sentence_pipeline", "ensure_offline_nlp"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_applied = False


@functools.lru_cache(maxsize=1)
def blank_sentence_pipeline() -> Language:
    """Return the process-wide blank English spaCy pipeline with a rule-based sentencizer."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def ensure_offline_nlp() -> None:
    """Prepare ``unstructured`` for offline use; safe to call any number of times.

    Points its spaCy loader at :func:`blank_sentence_pipeline`. The entry points set the offline
    environment (``kb.offline``) before ``unstructured`` is first imported: its package import sends an
    analytics ping unless opted out.
    """
    global _applied
    if _applied:
        return
    with _lock:
        if _applied:
            return
        import unstructured.nlp.tokenize as unstructured_tokenize

        # ``_get_nlp`` is looked up as a module global by ``_run_pipeline`` on every call, so
        # replacing the attribute reroutes sent_tokenize/word_tokenize/pos_tag. Clearing the
        # caches drops anything computed before the switch.
        unstructured_tokenize._get_nlp = blank_sentence_pipeline
        for cached in ("_process_cached", "_tokenize_for_cache", "word_tokenize", "pos_tag"):
            getattr(unstructured_tokenize, cached).cache_clear()
        _applied = True
        logger.debug("unstructured configured for offline use model=blank-en+sentencizer")
