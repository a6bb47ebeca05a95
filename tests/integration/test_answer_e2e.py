"""End to end: the real default model answers from zh-chatglm with cited sources (issue #4).

One session ingests three files of the corpus (README.md, README_en.md, FAQ.md) with the real E5
embedder and assembles the bundled GGUF; every test shares them. Answers are capped at 48 tokens and
the model runs on 2 threads to keep the run short on a shared CPU.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kb import KnowledgeBase, Workspace
from kb.cli import main
from kb.cli.ask import ask, chat
from kb.settings import Settings
from kbtypes.answer import Answer, SourcesEvent, TokenEvent
from rag.chain import make_qa_chain
from rag.embeddings import E5Embeddings
from rag.grounding import degeneracy, unsupported_claims
from rag.llms import ChatLlamaCpp, ensure_default_model
from rag.prompt import SYSTEM_PROMPT
from rag.translation import translate_question

pytestmark = pytest.mark.slow

CORPUS_FILES = ("README.md", "README_en.md", "FAQ.md")
MAX_TOKENS = 48
THREADS = 2
CJK = re.compile(r"[\u4e00-\u9fff]")

# kb.cli registers ask/chat; this app holds just them, with kb.cli's context-building callback.
app = typer.Typer()
app.callback()(main)
app.command("ask")(ask)
app.command("chat")(chat)


@pytest.fixture(scope="session")
def answer_home(tmp_path_factory: pytest.TempPathFactory, corpora: Path, e5: E5Embeddings) -> Path:
    """A home folder holding the assembled default model and a knowledge base "zh" over the corpus."""
    corpus = corpora / "zh-chatglm"
    if not corpus.is_dir():
        pytest.skip("corpus zh-chatglm is not present")
    home = tmp_path_factory.mktemp("answer-home")
    ensure_default_model(home / "models")
    workspace = Workspace(settings=Settings(home=home), embeddings=e5)
    report = workspace.open("zh", create=True).ingest(corpus, files=[corpus / name for name in CORPUS_FILES])
    assert not report.failed
    workspace.close()
    return home


@pytest.fixture(scope="session")
def llm(answer_home: Path) -> ChatLlamaCpp:
    model = ensure_default_model(answer_home / "models")
    return ChatLlamaCpp(
        model_path=model, n_ctx=4096, n_threads=THREADS, max_tokens=MAX_TOKENS, temperature=0.0, seed=0
    )


@pytest.fixture(scope="session")
def knowledge_base(answer_home: Path, e5: E5Embeddings, llm: ChatLlamaCpp) -> Iterator[KnowledgeBase]:
    settings = Settings(home=answer_home)
    settings.llm.max_tokens = MAX_TOKENS
    workspace = Workspace(settings=settings, embeddings=e5, chat_model=lambda: llm)
    yield workspace.open("zh")
    workspace.close()


def test_chinese_question_answered_in_chinese_citing_the_readme(knowledge_base: KnowledgeBase) -> None:
    answer = knowledge_base.ask("ChatGLM-6B 有多少参数？")
    assert not answer.refused, answer.answer
    assert "62" in answer.answer
    assert CJK.search(answer.answer)
    assert "README.md" in {s.source for s in answer.sources if s.cited}
    assert answer.usage["prompt_tokens"] <= 1000
    assert {"retrieve_s", "first_token_s", "total_s"} <= set(answer.timings)


def test_english_question_answered_citing_the_english_readme(knowledge_base: KnowledgeBase) -> None:
    answer = knowledge_base.ask("Which version of the transformers library is recommended?")
    assert not answer.refused, answer.answer
    assert "4.27.1" in answer.answer
    assert "README_en.md" in {s.source for s in answer.sources if s.cited}


def test_unrelated_question_refused_without_the_model(knowledge_base: KnowledgeBase) -> None:
    answer = knowledge_base.ask("What is the capital of Australia?")
    assert answer.refused
    assert answer.answer == "I can't answer that from the indexed documents."
    assert answer.sources == []
    assert answer.usage["prompt_tokens"] == 0


def test_stream_yields_tokens_before_the_answer(knowledge_base: KnowledgeBase, llm: ChatLlamaCpp) -> None:
    chain = make_qa_chain(knowledge_base.retriever(), llm, answer_threshold=0.885)
    items = list(chain.stream({"question": "API 部署默认使用哪个端口？", "history": []}))
    assert isinstance(items[-1], Answer)
    assert len(items) > 2
    assert all(isinstance(item, str) for item in items[:-1])
    assert "8000" in items[-1].answer


def test_events_yield_sources_first_and_close_stops_generation(knowledge_base: KnowledgeBase) -> None:
    events = knowledge_base.ask_events("INT4 量化级别下推理最低需要多少显存？")
    first = next(events)
    assert isinstance(first, SourcesEvent)
    assert first.sources
    assert first.sources[0].source == "README.md"
    assert isinstance(next(events), TokenEvent)
    events.close()  # cancels generation: the next question starts at once
    follow_up = knowledge_base.ask(
        "那 INT8 呢？", history=[("INT4 量化级别下推理最低需要多少显存？", "6GB [1]")]
    )
    assert "INT4" in follow_up.query
    assert "INT8" in follow_up.query


@pytest.fixture
def cli_env(answer_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_HOME", str(answer_home))
    monkeypatch.setenv("KB_LLM__THREADS", str(THREADS))
    monkeypatch.setenv("KB_LLM__MAX_TOKENS", "32")
    monkeypatch.setenv("KB_LLM__TEMPERATURE", "0")


@pytest.mark.usefixtures("cli_env")
def test_cli_ask_json_refusal() -> None:
    result = CliRunner().invoke(app, ["ask", "Who won the 2018 FIFA World Cup?", "--kb", "zh", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"answer", "sources", "refused", "usage", "timings"} <= set(data)
    assert data["refused"] is True


@pytest.mark.usefixtures("cli_env")
def test_cli_ask_prints_sources_then_the_answer() -> None:
    result = CliRunner().invoke(app, ["ask", "命令行 Demo 中输入什么可以清空对话历史？", "--kb", "zh"])
    assert result.exit_code == 0, result.output
    table_at = result.stdout.index("sources")
    assert "README.md" in result.stdout[table_at:]
    assert "cited:" not in result.stdout[:table_at]


@pytest.mark.usefixtures("cli_env")
def test_cli_chat_clear_and_stop() -> None:
    result = CliRunner().invoke(
        app, ["chat", "--kb", "zh"], input="What is the capital of Australia?\nclear\nstop\n"
    )
    assert result.exit_code == 0, result.output
    assert "I can't answer that from the indexed documents." in result.stdout
    assert "conversation cleared" in result.stdout


@pytest.mark.usefixtures("cli_env")
def test_cli_unknown_kb_fails_cleanly() -> None:
    result = CliRunner().invoke(app, ["ask", "x", "--kb", "nope"])
    assert result.exit_code == 1


# -- trustworthy answers (issue #10), on the real default model ----------------------------------------


def test_int4_question_that_got_source_labels_is_answered_with_a_quote(knowledge_base: KnowledgeBase) -> None:
    # This wording made the 0.5B model answer "[1] README.md\n[2] README.md\n[3] README.md".
    answer = knowledge_base.ask("ChatGLM-6B 的 INT4 量化等级下最低需要多少显存？")
    assert not answer.refused, answer.answer
    assert "6" in answer.answer
    assert (
        degeneracy(answer.answer, [s.text for s in answer.sources], [s.source for s in answer.sources])
        is None
    )
    quoted = [s for s in answer.sources if s.cited and s.quote]
    assert quoted, answer
    quote = quoted[0]
    assert quote.quote is not None
    assert quote.quote_start is not None
    assert quote.quote_end is not None
    assert quote.text[quote.quote_start : quote.quote_end] == quote.quote
    # The sentence or table row that states it ("INT4 ... 6GB", "量化等级: INT4 · …: 6 GB", "4-bit 量化下仅需 6GB").
    assert re.search(r"INT4|4-bit", quote.quote)
    assert re.search(r"6\s?GB", quote.quote)
    assert quote.chunk_start is not None
    assert quote.document_quote_start == quote.chunk_start + quote.quote_start


def test_answers_of_the_real_model_are_checked_and_grounded(knowledge_base: KnowledgeBase) -> None:
    answer = knowledge_base.ask("ChatGLM-6B 有多少参数？")
    assert answer.mode in ("generated", "retried", "extractive")
    assert answer.grounded, answer.unsupported
    assert answer.unsupported == []
    assert (
        unsupported_claims(answer.answer, [s.text for s in answer.sources], "ChatGLM-6B 有多少参数？") == []
    )


def test_english_question_over_the_chinese_faq_is_answered(knowledge_base: KnowledgeBase) -> None:
    # The fix is only in the Chinese FAQ.md: no word of the question can match it lexically.
    answer = knowledge_base.ask(
        "On a Mac the quantized model fails with clang: error: unsupported option '-fopenmp'. How do I fix it?"
    )
    assert not answer.refused, answer.answer
    assert "FAQ.md" in {s.source for s in answer.sources if s.cited}
    assert "openmp" in answer.answer.lower()


def test_the_real_model_translates_an_english_question_into_chinese_for_the_search(llm: ChatLlamaCpp) -> None:
    translated = translate_question(llm, "How much GPU memory does INT4 quantization need?", "en")
    assert translated is not None
    assert CJK.search(translated), translated
    assert "INT4" in translated.upper()


def test_the_system_prefix_is_evaluated_once(knowledge_base: KnowledgeBase) -> None:
    # llama.cpp's own counter (n_p_eval) says how many prompt tokens it ran; the rest came from its cache.
    knowledge_base.ask("ChatGLM-6B 有多少参数？")
    second = knowledge_base.ask("Which version of the transformers library is recommended?")
    cached = second.usage.get("cached_prompt_tokens", 0)
    system_tokens = knowledge_base.chat_model().get_num_tokens(SYSTEM_PROMPT)
    assert cached >= system_tokens, second.usage
    assert cached < second.usage["prompt_tokens"]


@pytest.mark.usefixtures("cli_env")
def test_cli_prints_the_quote_under_the_answer() -> None:
    result = CliRunner().invoke(app, ["ask", "ChatGLM-6B 的 INT4 量化等级下最低需要多少显存？", "--kb", "zh"])
    assert result.exit_code == 0, result.output
    after_table = result.stdout[result.stdout.rindex("┘") :]
    assert "README" in after_table
    assert "“" in after_table
    assert re.search(r"INT4|4-bit", after_table.split("“", 1)[1])
