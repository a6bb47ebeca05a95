"""ingest.offline_nlp: unstructured runs without downloading a spaCy model.

These tests pin the unstructured internals the hook relies on; if one fails after an upgrade,
re-read ``unstructured/nlp/tokenize.py`` and adapt ``ingest/offline_nlp.py``.
"""

from __future__ import annotations

import inspect

from ingest.offline_nlp import blank_sentence_pipeline, ensure_offline_nlp
from kb.offline import OFFLINE_ENVIRONMENT, apply_offline_environment


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


def test_offline_environment_fills_defaults_and_keeps_operator_values() -> None:
    environ = {"HF_HUB_OFFLINE": "0"}
    apply_offline_environment(environ)

    assert environ["HF_HUB_OFFLINE"] == "0"  # an operator's own value wins
    assert {key: environ[key] for key in OFFLINE_ENVIRONMENT if key != "HF_HUB_OFFLINE"} == {
        key: value for key, value in OFFLINE_ENVIRONMENT.items() if key != "HF_HUB_OFFLINE"
    }


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
