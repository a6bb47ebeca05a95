"""Cross-encoder reranking with a real sentence-transformers CrossEncoder loaded from a local folder.

No cross-encoder ships inside a PyPI package, so the model is a two-layer BERT with random weights and a
WordPiece tokenizer trained here: its scores mean nothing, but they are the model's own, so the tests can
check that kb orders passages by them, loads only from disk and reaches the retriever through settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb import Workspace
from kb.composition import build_reranker
from kb.settings import Settings
from kbtypes.errors import ConfigError, ProviderUnavailable
from kbtypes.retrieval import RetrievalOptions
from rag.embeddings import E5Embeddings
from rag.rerank import CrossEncoderReranker

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_VOCAB_TEXT = [
    "the pump delivers litres per minute at three bar",
    "the valve closes within forty milliseconds",
    "水泵 每分钟 输送 升水 工作 压力",
]


def build_tiny_cross_encoder(directory: Path) -> Path:
    """Save a random two-layer BERT sequence classifier (one label) and a locally trained tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer()
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        _VOCAB_TEXT * 4,
        trainer=trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials, show_progress=False),
    )
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    config.num_labels = 1
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def reranker(cross_encoder_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(cross_encoder_dir, max_candidates=4)


def _model_order(
    reranker: CrossEncoderReranker, query: str, ids: list[str], texts: dict[str, str]
) -> list[str]:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(reranker.model_path), device="cpu", local_files_only=True)
    scores = model.predict([(query, texts[i]) for i in ids])
    return [i for _, i in sorted(zip(scores.tolist(), ids, strict=True), key=lambda pair: -pair[0])]


def test_orders_candidates_by_the_model_score(reranker: CrossEncoderReranker) -> None:
    texts = {f"c{i}": text for i, text in enumerate(_VOCAB_TEXT + ["pump pump valve", "minute bar forty"])}
    query = "how many litres does the pump deliver"
    head = ["c0", "c1", "c2", "c3"]
    ranked = reranker.rerank(query, [*head, "c4"], texts)
    assert ranked[:4] == _model_order(reranker, query, head, texts)
    assert ranked[4] == "c4", "candidates beyond max_candidates keep their place behind the rescored ones"
    assert reranker.rerank(query, [], texts) == []


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        CrossEncoderReranker(tmp_path / "absent")


def test_folder_without_a_model_is_reported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ProviderUnavailable, match="could not load cross-encoder"):
        CrossEncoderReranker(tmp_path)


def test_settings_path_reaches_the_retriever(
    cross_encoder_dir: Path, e5: E5Embeddings, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(_VOCAB_TEXT):
        (docs / f"doc{i}.txt").write_text(text + "\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home", retrieval={"rerank_model": str(cross_encoder_dir)})
    reranker = build_reranker(settings.retrieval.rerank_model)
    assert reranker is not None
    workspace = Workspace(settings=settings, embeddings=e5, reranker=reranker)
    try:
        kb = workspace.open("rerank", create=True)
        kb.ingest(docs)
        query = "pump litres per minute"
        plain = (
            kb.retriever(RetrievalOptions(k=3, mode="hybrid"))
            .model_copy(update={"reranker": None})
            .invoke(query)
        )
        reranked = kb.retriever(RetrievalOptions(k=3, mode="hybrid")).invoke(query)
        texts = {doc.metadata["id"]: doc.page_content for doc in plain}
        expected = _model_order(reranker, query, [doc.metadata["id"] for doc in plain], texts)
        assert [doc.metadata["id"] for doc in reranked] == expected
        assert [doc.metadata["rank"] for doc in reranked] == [1, 2, 3]
    finally:
        workspace.close()
