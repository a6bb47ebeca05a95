"""The evidence gate across the question and its translation, and the chain's translated search (#10).

The gate is a pure function of documents and their scores, so these tests build the documents. The chain
tests use test_chain.py's scripted retriever and model, to pin down which queries are searched and what
the model is sent; ``tests/integration/test_answer_e2e.py`` translates with the real model.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage
from langchain_core.retrievers import BaseRetriever

from rag.chain import make_qa_chain
from rag.evidence import EvidenceGate
from rag.prompt import prefix_messages
from rag.translation import translate_question
from tests.unit.rag.test_chain import ExplodingChatModel, ScriptedChatModel


def doc(doc_id: str, text: str, score: float) -> Document:
    return Document(
        page_content=text, metadata={"source": f"{doc_id}.md", "id": doc_id, "score": score}, id=doc_id
    )


QUESTION = "What is the minimum GPU memory for INT4 inference?"
TRANSLATION = "INT4 量化推理最低需要多少显存？"
ENGLISH_HEADING = doc("en", "Hardware requirements of the GPU for inference are listed below.", 0.84)
CHINESE_ROW = doc("zh", "INT4 量化推理最低需要 6 GB 显存。", 0.93)


class PerQueryRetriever(BaseRetriever):
    """Returns the documents listed for each query and records the queries."""

    answers: dict[str, list[Document]]
    queries: list[str] = []

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        self.queries.append(query)
        return list(self.answers.get(query, []))


def test_with_weak_evidence_the_passage_whose_sentence_covers_the_question_is_shown() -> None:
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.95)
    heading = doc("h", "Deployment", 0.86)
    answer = doc("a", "The api.py deployment listens on port 8000 by default.", 0.85)
    assert gate.select("Which port does the api.py deployment listen on?", [heading, answer]) == [answer]


def test_strong_passages_are_all_shown_before_weaker_ones() -> None:
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.9)
    weak = doc("w", "Port 8000 is taken by default.", 0.85)
    strong = [
        doc("s1", "Deployment of the api.py server.", 0.92),
        doc("s2", "Port settings of api.py.", 0.91),
    ]
    assert gate.select("Which port does the api.py deployment listen on?", [weak, *strong]) == strong


def test_a_weaker_passage_that_says_more_of_the_question_comes_second() -> None:
    # The kb guide's intro scored strong for "How many passages does kb retrieve per question by
    # default?"; the settings row that answers it did not, and the model shown the intro alone refused.
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.9)
    question = "How many passages does kb retrieve per question by default?"
    intro = doc("intro", "kb user guide\n\nkb answers questions about your documents.", 0.91)
    row = doc("row", "KB_RETRIEVAL__K sets how many passages are retrieved per question (default 4).", 0.87)
    other = doc("other", "Passages in kb are chunks of your documents.", 0.84)
    assert gate.select(question, [intro, row, other]) == [intro, row]


def test_a_passage_found_by_the_translation_is_judged_against_the_translation() -> None:
    gate = EvidenceGate(answer_threshold=0.9, focus_threshold=0.95, cross_language_margin=0.0)
    # Against the English question, 0.93 for the Chinese row would be a cross-language score; here it
    # is what the Chinese translation scored, and it counts.
    assert gate.select_across([(QUESTION, [ENGLISH_HEADING]), (TRANSLATION, [CHINESE_ROW])]) == [CHINESE_ROW]
    assert gate.select_across([(QUESTION, [ENGLISH_HEADING])]) == []


def test_a_passage_both_searches_found_is_shown_once() -> None:
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.9)
    assert gate.select_across([(QUESTION, [CHINESE_ROW]), (TRANSLATION, [CHINESE_ROW])]) == [CHINESE_ROW]


def test_a_passage_both_searches_found_counts_as_the_query_that_scored_it_higher_judges_it() -> None:
    # Each search returns its own copy with its own score. The English question scores the Chinese row
    # low (0.82, below the gate); its Chinese translation scores it 0.93. Judged only by the search that
    # happened to come first, the row was dropped and the heading shown instead.
    gate = EvidenceGate(answer_threshold=0.9, focus_threshold=0.95, cross_language_margin=0.0)
    row_for_question = doc("zh", CHINESE_ROW.page_content, 0.82)
    chosen = gate.select_across([(QUESTION, [row_for_question]), (TRANSLATION, [CHINESE_ROW])])
    assert chosen == [CHINESE_ROW]
    assert chosen[0].metadata["score"] == 0.93
    # Found by the question alone, the same low score keeps it out: the gate did not just open wider.
    assert gate.select_across([(QUESTION, [row_for_question])]) == []


def test_a_best_passage_in_the_questions_language_keeps_the_other_language_out() -> None:
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.9)
    english_row = doc("en-row", "The minimum GPU memory for INT4 inference is 6 GB.", 0.93)
    # The same fact in both languages: the English question gets the English passage alone...
    assert gate.select_across([(QUESTION, [english_row]), (TRANSLATION, [CHINESE_ROW])]) == [english_row]
    # ...but when the best passage is Chinese, an English one that also counts stays beside it.
    english_note = doc("en-note", "Inference with INT4 weights on a GPU.", 0.91)
    chosen = gate.select_across([(QUESTION, [english_note]), (TRANSLATION, [CHINESE_ROW])])
    assert chosen == [CHINESE_ROW, english_note]


def test_another_language_passage_strong_by_the_same_language_bar_stays_beside_the_best() -> None:
    # zh-chatglm's ptuning_README: a Chinese paragraph about train.sh is the best passage for the Chinese
    # question, but the figures asked for stand only in the English settings block, which the question
    # itself scores 0.91 across languages: dropping it for its language left nothing to answer from.
    gate = EvidenceGate(answer_threshold=0.8, focus_threshold=0.9)
    question = "实验设置里 P-tuning v2 的 pre_seq_len 和 learning_rate 分别是多少？"
    paragraph = doc(
        "zh-p",
        "train.sh 中的 PRE_SEQ_LEN 和 LR 分别是 soft prompt 长度和训练的学习率，P-tuning v2 实验设置。",
        0.92,
    )
    settings = doc("en-s", "P-tuning v2\n\npre_seq_len=128\nlearning_rate=2e-2", 0.91)
    assert gate.select_across([(question, [paragraph, settings])]) == [paragraph, settings]
    # A weaker other-language passage (still counted across languages) is left out as before.
    weaker = doc("en-w", "P-tuning v2\n\npre_seq_len=128\nlearning_rate=2e-2", 0.89)
    assert gate.select_across([(question, [paragraph, weaker])]) == [paragraph]


def chain_over(llm: Any, *, translate: bool) -> tuple[Any, PerQueryRetriever]:
    retriever = PerQueryRetriever(
        answers={QUESTION: [ENGLISH_HEADING], TRANSLATION: [CHINESE_ROW]}, queries=[]
    )
    chain = make_qa_chain(
        retriever, llm, answer_threshold=0.9, cross_language_margin=0.0, translate=translate
    )
    return chain, retriever


def test_the_chain_searches_with_the_translated_question_too() -> None:
    # The scripted model "translates" with its one fixed reply: that reply is the second query.
    llm = ScriptedChatModel(pieces=[TRANSLATION], calls=[], closed=[])
    chain, retriever = chain_over(llm, translate=True)
    answer = chain.invoke(QUESTION)
    assert retriever.queries == [QUESTION, TRANSLATION]
    assert not answer.refused
    assert [source.chunk_id for source in answer.sources] == ["zh"]


def test_the_translation_request_starts_with_the_answer_prompts_prefix() -> None:
    # llama.cpp keeps only the latest prompt's cache: a prefix of its own would cost the answer its cache.
    llm = ScriptedChatModel(pieces=[TRANSLATION], calls=[], closed=[])
    chain, _ = chain_over(llm, translate=True)
    chain.invoke(QUESTION)
    translation, answer = llm.calls[:2]  # the scripted answer echoes the question: a retry follows
    prefix = prefix_messages()
    assert translation[: len(prefix)] == prefix
    assert answer[: len(prefix)] == prefix
    assert isinstance(translation[-1], HumanMessage)
    assert QUESTION in translation[-1].text


def test_without_translation_the_english_question_finds_no_evidence() -> None:
    chain, retriever = chain_over(ExplodingChatModel(pieces=[], calls=[], closed=[]), translate=False)
    assert chain.invoke(QUESTION).refused
    assert retriever.queries == [QUESTION]


def test_a_translation_that_repeats_the_question_adds_no_search() -> None:
    llm = ScriptedChatModel(pieces=[f"{QUESTION} [1]"], calls=[], closed=[])
    chain, retriever = chain_over(llm, translate=True)
    chain.invoke(QUESTION)
    assert retriever.queries == [QUESTION]


def test_a_search_that_found_nothing_is_not_translated() -> None:
    # An empty knowledge base: the translation's model call could only lead to a second empty search.
    retriever = PerQueryRetriever(answers={}, queries=[])
    chain = make_qa_chain(retriever, ExplodingChatModel(pieces=[], calls=[], closed=[]), translate=True)
    assert chain.invoke(QUESTION).refused
    assert retriever.queries == [QUESTION]


def test_figures_the_question_does_not_hold_are_left_out_of_the_translation() -> None:
    # The 0.5B model sometimes answers instead of translating (its "16 GB" is made up); the real model
    # does so only for some wordings, so the scripted one replies with such an answer.
    llm = ScriptedChatModel(pieces=["INT4 推理最低需要 16 GB 显存。"], calls=[], closed=[])
    assert translate_question(llm, QUESTION, "en") == "INT4 推理最低需要 GB 显存。"


def test_a_translation_that_is_only_a_made_up_figure_adds_no_search() -> None:
    llm = ScriptedChatModel(pieces=["625000000"], calls=[], closed=[])
    assert translate_question(llm, "ChatGLM2-6B 预训练用了多少中英标识符？", "zh") is None
