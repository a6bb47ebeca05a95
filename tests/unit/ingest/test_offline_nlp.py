"""ingest.offline_nlp: unstructured runs without downloading a spaCy model.

These tests pin the unstructured internals the hook relies on; if one fails after an upgrade,
re-read ``unstructured/nlp/tokenize.py`` and adapt ``ingest/offline_nlp.py``.
"""

from __future__ import annotations

import inspect
import os

from ingest.offline_nlp import OFFLINE_ENVIRONMENT, blank_sentence_pipeline, ensure_offline_nlp


def test_unstructured_still_loads_its_model_through_get_nlp() -> None:
    import unstructured.nlp.tokenize as tokenize

    # The model it would download, and the single loader every tokenizer function goes through.
    assert tokenize._SPACY_MODEL_NAME == "en_core_web_sm"
    assert "_get_nlp()" in inspect.getsource(tokenize._run_pipeline)
    assert "_tokenize_for_cache(" in inspect.getsource(tokenize.sent_tokenize)
    for function in (tokenize.word_tokenize, tokenize.pos_tag, tokenize._tokenize_for_cache):
        assert "_process(" in inspect.getsource(function)


def test_hook_is_idempotent_and_routes_tokenizers_to_the_local_pipeline() -> None:
    ensure_offline_nlp()
    ensure_offline_nlp()
    import unstructured.nlp.tokenize as tokenize

    assert tokenize._get_nlp() is blank_sentence_pipeline()
    assert tokenize.sent_tokenize("It works offline. Nothing is downloaded! Right?") == [
        "It works offline.",
        "Nothing is downloaded!",
        "Right?",
    ]
    assert tokenize.word_tokenize("Hello, world") == ["Hello", ",", "world"]


def test_hook_sets_offline_environment_defaults() -> None:
    ensure_offline_nlp()

    for key in OFFLINE_ENVIRONMENT:
        assert os.environ.get(key)
    assert os.environ["DO_NOT_TRACK"]
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_partitioning_classifies_text_without_a_model() -> None:
    ensure_offline_nlp()
    from unstructured.partition.html import partition_html

    elements = partition_html(
        text="<h1>安装</h1><p>The model runs on a laptop. It needs six gigabytes of memory.</p>",
        languages=[""],
    )

    assert [element.text for element in elements] == [
        "安装",
        "The model runs on a laptop. It needs six gigabytes of memory.",
    ]
