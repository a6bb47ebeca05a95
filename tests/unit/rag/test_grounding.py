"""Answer checks: degenerate replies and claims that no shown source holds."""

from __future__ import annotations

import pytest

from rag.grounding import degeneracy, unsupported_claims

PASSAGES = [
    "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型，基于 General Language Model (GLM) 架构，具有 62 亿参数。"
    "结合模型量化技术，用户可以在消费级的显卡上进行本地部署（INT4 量化级别下最低只需 6GB 显存）。",
    "量化等级 | 最低 GPU 显存（推理） | 最低 GPU 显存（高效参数微调）\nFP16（无量化） | 13 GB | 14 GB\nINT4 | 6 GB | 7 GB",
]
NAMES = ["zh-chatglm/README.md", "zh-chatglm/README.md"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("[1] README.md\n[2] README.md\n[3] README.md", "labels"),
        ("[1][2]", "labels"),
        ("资料 [1]、来源 [2]", "labels"),
        ("zh-chatglm/README.md (p. 3)", "labels"),
        ("Sources: [1] guide-en.md", "labels"),
        ("显存显存显存显存显存显存显存显存显存显存显存显存显存显存显存显存", "repetition"),
        ("最低 6GB。\n最低 6GB。\n最低 6GB。", "repetition"),
        ("问题：INT4 需要多少显存？回答：6GB [1]", "echo"),
        ("Up to 12 books, for 21 days [2].", "echo"),
        ("天气很好，我们去公园散步吧。", "no_overlap"),
        ("INT4 需要多少显存？ [2]", "question"),
        ("The minimum GPU memory for INT4 is [2].", "unfinished"),
        ("INT4 最低需要的显存是 [2]。", "unfinished"),
    ],
)
def test_degenerate_replies_are_named(answer: str, reason: str) -> None:
    assert degeneracy(answer, PASSAGES, NAMES) == reason


@pytest.mark.parametrize(
    "answer",
    [
        "INT4 量化级别下最低只需 6GB 显存 [1]。",
        "6 GB [2]",
        "ChatGLM-6B 有 62 亿参数 [1]。",
        # Another language than the passages: no shared words are expected, so it is not "no_overlap".
        "It needs at least 6 GB of GPU memory with INT4 [1].",
    ],
)
def test_real_answers_pass(answer: str) -> None:
    assert degeneracy(answer, PASSAGES, NAMES) is None


def test_figures_in_the_sources_are_supported() -> None:
    assert unsupported_claims("INT4 最低需要 6GB 显存，FP16 需要 13 GB [2]。", PASSAGES) == []
    # Units are not compared: "6G" is the 6 of "6 GB".
    assert unsupported_claims("6G", PASSAGES) == []


def test_invented_figures_are_listed_in_order() -> None:
    claims = unsupported_claims("默认端口是 7860，学习率为 2e-2，需要 16 GB 显存 [1]。", PASSAGES)
    assert claims == ["7860", "2e-2", "16"]


def test_a_number_is_not_found_inside_a_longer_one() -> None:
    assert unsupported_claims("需要 3 GB", ["需要 13 GB"]) == ["3"]
    assert unsupported_claims("版本 1.1", ["版本 1.10"]) == ["1.1"]


def test_question_figures_and_markers_and_list_numbers_are_not_claims() -> None:
    answer = "1. 在 8 卡上训练 [3]\n2. 参考 [12]"
    assert unsupported_claims(answer, ["使用 8 卡训练"], question="") == []
    assert unsupported_claims("P-Tuning v2 需要 7 GB", PASSAGES, question="P-Tuning v2 要多少显存？") == []


def test_a_day_or_month_of_a_date_supports_only_a_date() -> None:
    # improve_README.md's "截至4月22号" is all the sources say about 22; the 0.5B model's "22 层" came from it.
    source = "截至4月22号 GitHub 的 star 数达到 2 万，连续 12 天居第一名。[2023/06/25] 发布 ChatGLM2-6B。"
    assert unsupported_claims("ChatGLM-6B 有 22 层 Transformer [1]。", [source]) == ["22"]
    assert unsupported_claims("It has 25 layers [1].", [source]) == ["25"]
    assert unsupported_claims("截至4月22号，star 数达到 2 万 [1]。", [source]) == []
    assert unsupported_claims("ChatGLM2-6B 于 6 月 25 日发布 [1]。", [source]) == []
    assert unsupported_claims("It was released on 2023-06-25 [1].", [source]) == []
    assert unsupported_claims("连续 12 天 [1]。", [source]) == []


def test_quoted_names_must_appear_in_a_source() -> None:
    assert unsupported_claims("运行“web_demo.py”即可 [1]", ["运行 web_demo.py 启动网页版"]) == []
    assert unsupported_claims("作者是“张三”", PASSAGES) == ["张三"]
    assert unsupported_claims("use `kb serve --port`", ["Start it with kb serve."]) == ["kb serve --port"]


def test_versions_are_claims() -> None:
    assert unsupported_claims("需要 transformers 4.27.1", ["pip install transformers==4.27.1"]) == []
    assert unsupported_claims("需要 transformers 4.30.2", ["pip install transformers==4.27.1"]) == ["4.30.2"]


@pytest.mark.parametrize(
    ("answer", "question"),
    [
        ("INT4 最少要几 G 显存才能跑推理 [3].", "INT4 最少要几 G 显存才能跑推理？"),
        ("命令行 Demo 里清空对话历史 [1].", "命令行 Demo 里怎么清空对话历史？"),
        ("min python for kb [1].", "min python for kb?"),
    ],
)
def test_a_reply_that_restates_the_question_is_degenerate(answer: str, question: str) -> None:
    assert degeneracy(answer, PASSAGES, NAMES, question) == "question"


def test_a_short_answer_with_a_figure_is_not_an_echo() -> None:
    assert degeneracy("INT4 需要 6GB [1]", PASSAGES, NAMES, "INT4 需要多少显存？") is None
    assert degeneracy("输入 clear 即可 [1]", ["输入 clear 清空对话历史"], NAMES, "怎么清空对话历史？") is None


def test_a_restatement_that_adds_the_word_a_source_holds_is_the_answer() -> None:
    """Seen on the tuning half: the one word the reply adds to the question is the fact asked for."""
    question = "Which dependency was dropped in the 2023/04/06 update?"
    shown = ["[2023/04/06] 优化web demo的界面。去掉了对 icetk 的依赖（需要更新模型文件ice_text.model）。"]
    assert degeneracy("icetk was dropped in the 2023/04/06 update [1].", shown, NAMES, question) is None
    assert (
        degeneracy("foobar was dropped in the 2023/04/06 update [1].", shown, NAMES, question) == "question"
    )


def test_a_version_the_question_names_with_a_v_is_supported() -> None:
    question = "What was added to the training data in the v1.1 checkpoint update?"
    assert unsupported_claims("In the v1.1 update, English data was added.", ["英文数据"], question) == []
    assert unsupported_claims("It needs 6 GB.", ["INT4 v6"]) == ["6"]


def test_a_reply_that_copies_the_stricter_instruction_is_an_echo() -> None:
    """Seen on the held-out bench: the retry restated its own instruction, half in English."""
    from rag.prompt import STRICT_INSTRUCTION

    reply = "Only use" + STRICT_INSTRUCTION["zh"][2:]
    assert degeneracy(reply, ["kb 不会删除源文件。"], [], "kb 会删除源文件吗？") == "echo"


def test_instruction_wording_found_in_the_sources_is_not_an_echo() -> None:
    from rag.prompt import SYSTEM_PROMPT

    passage = f"kb's system prompt reads: {SYSTEM_PROMPT}"
    answer = "The prompt says: " + SYSTEM_PROMPT[:60] + " [1]"
    assert degeneracy(answer, [passage], [], "What does kb's system prompt say?") is None


def test_a_reply_that_is_only_a_heading_of_a_source_is_degenerate() -> None:
    passages = ["HTTP 服务\n\nkb serve\n\n默认监听 127.0.0.1 的 8000 端口。", "# kb 中文用户指南\n\n安装 ..."]
    assert degeneracy("kb serve [1].", passages, NAMES) == "heading"
    assert degeneracy("kb 中文用户指南 [2]。", passages, NAMES) == "heading"
    assert degeneracy("默认监听 127.0.0.1 的 8000 端口 [1]。", passages, NAMES) is None
    assert degeneracy("kb serve 默认监听 8000 端口 [1]。", passages, NAMES) is None


def test_digits_of_hyphenated_names_are_not_claims() -> None:
    assert unsupported_claims("ChatGLM-6B 的词表大小是 13000", PASSAGES) == ["13000"]
    assert unsupported_claims("BLEU-4 为 8.10", ["P-tuning v2 的 BLEU-4 是 8.10"]) == []


def test_a_figure_in_scientific_notation_is_one_claim() -> None:
    # ptuning_README's settings block states learning_rate=2e-2; a passage with some other 2 backs nothing.
    answer = "pre_seq_len 和 learning_rate 分别是 128 和 2e-2 [1]。"
    assert unsupported_claims(answer, ["pre_seq_len=128\nlearning_rate=2e-2"]) == []
    assert unsupported_claims(answer, ["pre_seq_len=128, 2 GPUs"]) == ["2e-2"]
    assert unsupported_claims(answer, ["pre_seq_len=128, learning_rate=12e-25"]) == ["2e-2"]
