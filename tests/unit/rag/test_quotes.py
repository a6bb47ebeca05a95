"""Quotes: the supporting sentence of a passage, with offsets, and the extractive answer built from it."""

from __future__ import annotations

import pytest

from rag.language import content_terms
from rag.quotes import (
    asks_for_a_figure,
    best_quote,
    contradicts,
    extractive_answer,
    ignores,
    sentence_spans,
    strays,
)

README = (
    "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型，具有 62 亿参数。"
    "结合模型量化技术，用户可以在消费级的显卡上进行本地部署（INT4 量化级别下最低只需 6GB 显存）。\n"
    "| 量化等级 | 最低 GPU 显存（推理） | 最低 GPU 显存（高效参数微调） |\n"
    "| -------------- | ------------------------- | --------------------------------- |\n"
    "| FP16（无量化） | 13 GB | 14 GB |\n"
    "| INT4 | 6 GB | 7 GB |\n"
)
GUIDE = (
    "Run kb ingest ./docs to index a folder. Changed files are re-indexed. Start the server with kb serve."
)


def test_spans_cover_sentences_and_rows_and_skip_rules() -> None:
    spans = sentence_spans(README)
    texts = [README[start:end] for start, end in spans]
    assert texts[0].startswith("ChatGLM-6B")
    assert texts[0].endswith("。")
    assert "| INT4 | 6 GB | 7 GB |" in texts
    assert not any(set(t) <= set("|- ") for t in texts)
    assert all(README[start:end] == README[start:end].strip() for start, end in spans)


def test_quote_is_the_sentence_that_holds_the_answer_with_exact_offsets() -> None:
    quote = best_quote(README, "INT4 量化等级下最低需要多少显存？", "最低只需 6GB 显存 [1]")
    assert quote is not None
    assert README[quote.start : quote.end] == quote.text
    # The sentence ("最低只需 6GB 显存") or the table row ("| INT4 | 6 GB | 7 GB |"): both state it.
    assert "INT4" in quote.text
    assert "6GB" in quote.text or "6 GB" in quote.text


def test_answer_words_pick_the_table_row() -> None:
    quote = best_quote(README, "FP16 推理要多少显存？", "13 GB")
    assert quote is not None
    assert quote.text == "| FP16（无量化） | 13 GB | 14 GB |"


def test_english_sentences() -> None:
    quote = best_quote(GUIDE, "How do I start the server?", "Use kb serve [1].")
    assert quote is not None
    assert quote.text == "Start the server with kb serve."
    assert GUIDE[quote.start : quote.end] == quote.text


def test_nothing_shared_gives_no_quote() -> None:
    assert best_quote(GUIDE, "天气怎么样？", "") is None


def test_extractive_answer_cites_the_best_passage_and_keeps_table_headers() -> None:
    extract = extractive_answer("FP16 无量化 推理 最低 GPU 显存", [GUIDE, README])
    assert extract is not None
    assert extract.n == 2
    assert extract.text.endswith("[2]")
    assert extract.text.startswith("| 量化等级 |")  # the row keeps its header
    assert "13 GB" in extract.text


def test_extractive_answer_none_when_no_passage_matches() -> None:
    assert extractive_answer("天气怎么样？", [GUIDE]) is None


def test_extractive_answer_takes_the_row_with_the_figure() -> None:
    extract = extractive_answer("INT4 最少要几 G 显存才能跑推理？", [README.split("\n", 1)[1]])
    assert extract is not None
    assert "| INT4 | 6 GB | 7 GB |" in extract.text


def test_extractive_answer_skips_sentences_that_are_questions() -> None:
    faq = "How do I start the server?\nStart the server with kb serve; it listens on port 8000."
    extract = extractive_answer("How do I start the server?", [faq])
    assert extract is not None
    assert extract.text.startswith("Start the server with kb serve")


def test_digits_inside_names_are_not_figures() -> None:
    # "FP16", "INT4" and "ChatGLM-6B" name things: the "6" of "6 GB" must point at the 6 GB sentence.
    passage = (
        "默认情况下，模型以 FP16 精度加载，运行上述代码需要大概 13GB 显存。"
        "进行 2 至 3 轮对话后，8-bit 量化下 GPU 显存占用约为 10GB，4-bit 量化下仅需 6GB 占用。"
    )
    quote = best_quote(passage, "ChatGLM-6B 的 INT4 量化等级下最低需要多少显存？", "大约 6 GB 显存 [1]。")
    assert quote is not None
    assert quote.text.endswith("4-bit 量化下仅需 6GB 占用。")


def test_a_question_for_a_quantity_is_answered_only_by_a_sentence_with_a_figure() -> None:
    passages = [
        "More efficient inference: ChatGLM2-6B uses Multi-Query Attention for faster generation.",
        "ChatGLM-6B is trained on about 1T tokens of Chinese and English text.",
    ]
    assert extractive_answer("How many attention heads does ChatGLM-6B use?", passages[:1]) is None
    found = extractive_answer("How many tokens is ChatGLM-6B trained on?", passages)
    assert found is not None
    assert found.n == 2
    # Without a quantity asked for, the best-matching sentence is fine without a figure.
    assert extractive_answer("Which attention does ChatGLM2-6B use?", passages[:1]) is not None


def test_a_quantity_asked_for_in_one_wording_needs_a_figure_in_every_wording() -> None:
    # The 0.5B model translated "有多少层" as "What is the number of ...": that wording does not say
    # "how many", and its best sentence, without any figure, was given as the answer.
    passages = ["SwissArmyTransformer: 一个 Transformer 统一编程框架，ChatGLM-6B 已经在 SAT 中实现。"]
    question = "ChatGLM-6B 有多少层 Transformer？"
    translation = "What is the number of Transformer layers in ChatGLM-6B?"
    assert extractive_answer(translation, passages) is not None  # asked this way alone, no figure is needed
    assert extractive_answer(question, passages, also=[translation]) is None


@pytest.mark.parametrize(
    ("question", "wants_figure"),
    [
        ("ChatGLM-6B 是几月几号发布的？", True),
        ("When was ChatGLM-6B released?", True),
        ("What year did the update ship?", True),
        ("What happens when I ingest the same folder twice?", False),
        ("什么时候需要重新导入？", False),
    ],
)
def test_a_date_is_a_figure_asked_for(question: str, wants_figure: bool) -> None:
    assert asks_for_a_figure(question) is wants_figure


def test_a_release_date_taken_from_a_neighbouring_fact_contradicts_the_dated_sentence() -> None:
    # The 0.5B model gave ChatGLM2-6B's release date (2023/06/25, in another shown source) for ChatGLM-6B.
    passage = "ChatGLM-6B 自3月14号发布以来受到了广大开发者和用户的喜爱。"
    found = extractive_answer("ChatGLM-6B 是几月几号发布的？", [passage])
    assert found is not None
    assert contradicts("ChatGLM-6B 是 2023/06/25 [2]。", "ChatGLM-6B 是几月几号发布的？", found.quote)
    assert not contradicts("3月14号 [1]。", "ChatGLM-6B 是几月几号发布的？", found.quote)


def test_extractive_answer_is_never_a_title() -> None:
    passage = "纯文本的编码\n\n导入时 kb 读取 UTF-8、UTF-16 和 GBK 三种。"
    found = extractive_answer("kb 导入纯文本时能自动识别哪些编码？", [passage])
    assert found is not None
    assert found.text == "导入时 kb 读取 UTF-8、UTF-16 和 GBK 三种。 [1]"  # the title matches more words


def test_extractive_answer_keeps_the_line_a_colon_introduces() -> None:
    passage = (
        "导入文档时 kb 按文件的编码读取文本，需要指定编码时设置：\nKB_INGEST__ENCODING=gbk\n\n其他设置见下。"
    )
    found = extractive_answer("kb 导入纯文本时怎么指定编码？", [passage])
    assert found is not None
    assert (
        found.text == "导入文档时 kb 按文件的编码读取文本，需要指定编码时设置：\nKB_INGEST__ENCODING=gbk [1]"
    )


def test_an_answer_contradicts_the_answering_sentence_only_with_other_figures() -> None:
    question = "How many tokens was ChatGLM2-6B trained on?"
    quote = best_quote("ChatGLM2-6B was trained on 1.4T tokens. ChatGLM-6B saw 1T.", question)
    assert quote is not None
    assert quote.text.startswith("ChatGLM2-6B was trained on 1.4T")
    assert contradicts("About 1T tokens [1].", question, quote)
    assert not contradicts("1.4T tokens [1].", question, quote)
    assert not contradicts("Trillions of tokens [1].", question, quote)  # no figure given: nothing to check
    # A question that does not ask for a quantity is not checked.
    assert not contradicts("About 1T tokens [1].", "What was ChatGLM2-6B trained on?", quote)


def test_an_answer_with_none_of_the_words_the_answering_sentence_adds_ignores_it() -> None:
    # The 0.5B model answered with a list's lead-in from another source instead of the sentence that
    # names the two packages.
    question = "运行 VisualGLM-6B 需要额外安装哪两个依赖？"
    found = extractive_answer(
        question, ["注意 VisualGLM-6B 需要额外安装 SwissArmyTransformer 和 torchvision。"]
    )
    assert found is not None
    assert ignores("除 ChatGLM-6B 的依赖之外，还需要安装以下依赖 [2]。", found.quote, question)
    assert not ignores("需要安装 SwissArmyTransformer 和 torchvision [1]。", found.quote, question)
    assert not ignores("还要装 torchvision [1]。", found.quote, question)  # one named package is enough
    # A sentence that only repeats the question adds nothing an answer could miss.
    echo = best_quote("运行 VisualGLM-6B 需要额外安装哪两个依赖", question)
    assert echo is not None
    assert not ignores("还需要安装以下依赖 [2]。", echo, question)


def test_identifiers_and_hyphenated_words_share_their_parts_with_a_question() -> None:
    passage = "Each file is split into passages.\nKB_INGEST__CHUNK_SIZE: 400 characters"
    quote = best_quote(passage, "What is the chunk size?")
    assert quote is not None
    assert quote.text == "KB_INGEST__CHUNK_SIZE: 400 characters"
    passage = "Inference needs a GPU with 13GB.\nWithout a GPU, the CPU takes about 32GB of memory."
    quote = best_quote(passage, "CPU-only inference: how much memory?")
    assert quote is not None
    assert quote.text.startswith("Without a GPU")


def test_a_model_name_shares_nothing_with_its_siblings_by_its_parts() -> None:
    assert best_quote("ChatGLM-6B", "ChatGLM2-6B?") is None


def test_a_figure_strays_when_every_line_stating_it_shares_only_what_all_lines_share() -> None:
    rows = [
        "Variable: KB_SERVER__PORT · Default: 8000 · Meaning: Port kb serve binds.",
        "Variable: KB_SERVER__MAX_UPLOAD_MB · Default: 50 · Meaning: Largest upload accepted per file.",
        "Variable: KB_LLM__THREADS · Default: 0 · Meaning: CPU threads for local models.",
    ]
    asked = ("kb 嵌入时默认每批处理多少个切块？", "kb default number of blocks per batch?")
    # "kb" and "default" stand in every row, "per" relates by grammar alone.
    assert strays("每批 50 个 [1]", asked, ["\n".join(rows)])
    assert not strays(
        "每批 50 个 [1]", ("kb 上传文件默认最大多少？", "largest upload size?"), ["\n".join(rows)]
    )
    # Not a figure question, or no figure given: nothing to check.
    assert not strays("每批 50 个 [1]", ("kb 嵌入时怎么分批？", "how does kb batch embeddings?"), rows)
    assert not strays("没有说明 [1]", asked, rows)


def test_english_words_count_by_their_stem_and_stopwords_as_written() -> None:
    assert content_terms("installed models") == content_terms("install model") == {"instal", "model"}
    assert {"does", "what"} <= content_terms("What does it take?")  # the stopword lists still match them
    # "installed" in the question makes the reply's "install" no sign that it read the gcc sentence.
    question = "What do I need installed to run a quantized ChatGLM-6B on the CPU?"
    passage = "If you need to run the quantized model on the CPU, you also need to install gcc and openmp."
    quote = best_quote(passage, question)
    assert quote is not None
    assert ignores("To run it on the CPU, you need to install PyTorch-Nightly.", quote, question)
    assert not ignores("You need to install gcc and openmp.", quote, question)
