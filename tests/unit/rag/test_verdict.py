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


# Rows of the settings table as kb extracts configuration.docx, questions and translations as the
# 0.5B model wrote them on the tuning half.
SETTINGS_CHUNK = (
    "Variable: KB_LLM__TEMPERATURE · Default: 0.1 · Meaning: Sampling temperature; low values keep answers"
    " close to the sources.\n"
    "Variable: KB_RETRIEVAL__SCORE_THRESHOLD · Default: 0.0 · Meaning: Minimum relevance; below it kb ask"
    " refuses.\n"
    "Variable: KB_SERVER__PORT · Default: 8000 · Meaning: Port kb serve binds.\n"
    "Variable: KB_SERVER__MAX_UPLOAD_MB · Default: 50 · Meaning: Largest upload accepted per file, in MiB."
)


def settle(reply: str, question: str, translation: str) -> tuple[str, str]:
    verdict = judge(
        reply,
        [1],
        "generated",
        question=question,
        also=[translation],
        chunks=[SETTINGS_CHUNK],
        passages=[SETTINGS_CHUNK],
        language="zh",
        min_quote_coverage=0.05,
    )
    return verdict.mode, verdict.answer


def test_a_figure_from_a_row_about_something_else_is_refused_when_no_row_answers() -> None:
    # No setting is about embedding batches: the model gave the upload row's 50, and the best quote
    # (the port row) is no nearer the question.
    mode, answer = settle(
        "kb 嵌入时默认每批处理 50 个切块 [1].",
        "kb 嵌入时默认每批处理多少个切块？",
        "kb default number of blocks per batch?",
    )
    assert (mode, answer) == ("refused", "根据已知信息无法回答该问题。")


def test_a_figure_from_the_row_the_translation_names_stays() -> None:
    reply = "kb 默认的采样温度是 0.1 [1]."
    mode, answer = settle(reply, "kb 默认的采样温度是多少？", "What is kb's default sampling temperature?")
    assert (mode, answer) == ("generated", reply)


def test_a_one_word_translation_does_not_make_a_sentence_answer_the_question() -> None:
    # The 0.5B model "translated" the question as "OpenMP 。": the URL line covers all of that wording,
    # yet one of the question's nine words. The right reply, which shares nothing with it, stays.
    chunk = (
        "需要单独安装 openmp 依赖，即可在Mac下使用OMP：\n\n"
        "# 参考`https://mac.r-project.org/openmp/`\n"
        "curl -O https://mac.r-project.org/openmp/openmp-14.0.6-darwin20-Release.tar.gz\n"
    )
    question = "Which OpenMP release does the FAQ download for macOS?"
    reply = "FAQ 下载的 OpenMP 为 14.0.6-darwin20-Release.tar.gz"
    found = extractive_answer(question, [chunk], ["OpenMP 。"])
    assert found is not None
    assert (found.quote.text, found.quote.coverage) == ("# 参考`https://mac.r-project.org/openmp/`", 1.0)
    verdict = judge(
        reply,
        [1],
        "generated",
        question=question,
        also=["OpenMP 。"],
        chunks=[chunk],
        passages=[chunk],
        language="en",
        min_quote_coverage=0.4,
    )
    assert (verdict.mode, verdict.answer) == ("generated", reply)
