"""The verdict on a reply that passed the degenerate checks (#10): which replies give way to a quote."""

from __future__ import annotations

from rag.quotes import extractive_answer
from rag.verdict import judge

LFS_QUESTION = "env var to skip the LFS weights when cloning chatglm-6b"
LFS_CHUNKS = [
    "Model license\n\nThe use of ChatGLM-6B model weights is subject to the Model License.",
    "Download only the model implementation:\n\nGIT_LFS_SKIP_SMUDGE=1 git clone https://huggingface.co/THUDM/chatglm-6b",
]


def test_a_right_reply_stays_when_the_best_sentence_says_less_than_half_the_question() -> None:
    # The 0.5B model's right reply shares no word with the license sentence, which covers the question
    # best yet holds only "weights" and "chatglm-6b" of it.
    found = extractive_answer(LFS_QUESTION, LFS_CHUNKS)
    assert found is not None
    assert found.n == 1
    assert 0.4 <= found.quote.coverage < 0.5
    reply = "Set the GIT_LFS_SKIP_SMUDGE environment variable to 1 when you run git clone."
    verdict = judge(
        reply,
        [2],
        "generated",
        question=LFS_QUESTION,
        chunks=LFS_CHUNKS,
        passages=LFS_CHUNKS,
        language="en",
        min_quote_coverage=0.4,
    )
    assert (verdict.mode, verdict.answer, verdict.cited) == ("generated", reply, [2])
