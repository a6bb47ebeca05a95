"""Conversations on disk: history for the model, every turn for the page, ratings for eval cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.conversations import ConversationStore
from kbtypes.answer import Answer, Source


def _answer(text: str, *, refused: bool = False) -> Answer:
    source = Source(n=1, source="guide.md", chunk_id="c1", score=0.8, text="INT4 needs 6 GB.", cited=True)
    return Answer(answer=text, sources=[source], refused=refused, mode="refused" if refused else "generated")


def _store(path: Path, **bounds: int) -> ConversationStore:
    return ConversationStore(path / "conversations.sqlite3", max_turns=bounds.pop("max_turns", 2), **bounds)


def test_history_is_the_last_turns_and_every_turn_is_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for n in range(4):
        store.append("", "default", "s1", f"q{n}", _answer(f"a{n}"))
    assert store.history("", "default", "s1") == [("q2", "a2"), ("q3", "a3")]
    turns = store.turns("", "default", "s1")
    assert turns is not None
    assert [turn.question for turn in turns] == ["q0", "q1", "q2", "q3"]
    assert turns[0].sources[0].text == "INT4 needs 6 GB."


def test_a_conversation_survives_reopening_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    created = store.create("key-0", "kb", title="memory")
    store.append("key-0", "kb", created.id, "INT4?", _answer("6 GB [1]"))
    store.close()

    reopened = _store(tmp_path)

    assert [(c.id, c.title, c.turns) for c in reopened.conversations("key-0", "kb")] == [
        (created.id, "memory", 1)
    ]
    assert reopened.history("key-0", "kb", created.id) == [("INT4?", "6 GB [1]")]


def test_client_history_seeds_a_new_conversation_only(tmp_path: Path) -> None:
    store = _store(tmp_path, max_turns=3)
    store.append("", "default", "s1", "q2", _answer("a2"), earlier=[("q0", "a0"), ("q1", "a1")])
    assert store.history("", "default", "s1") == [("q0", "a0"), ("q1", "a1"), ("q2", "a2")]
    store.append("", "default", "s1", "q3", _answer("a3"), earlier=[("x", "y")])
    assert store.history("", "default", "s1") == [("q1", "a1"), ("q2", "a2"), ("q3", "a3")]


def test_refusals_are_shown_but_not_handed_to_the_model(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append("", "kb", "s", "unknown?", _answer("no source says", refused=True))
    store.append("", "kb", "s", "INT4?", _answer("6 GB"))
    assert store.history("", "kb", "s") == [("INT4?", "6 GB")]
    assert len(store.turns("", "kb", "s") or []) == 2


def test_conversations_are_per_caller_and_knowledge_base(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append("key-0", "a", "s", "mine", _answer("x"))
    store.append("key-0", "b", "s", "other kb", _answer("y"))
    assert store.history("key-1", "a", "s") == []
    assert store.turns("key-1", "a", "s") is None
    assert not store.rename("key-1", "a", "s", "stolen")
    assert not store.delete("key-1", "a", "s")
    store.forget_kb("a")
    assert store.history("key-0", "a", "s") == []
    assert store.history("key-0", "b", "s") == [("other kb", "y")]


def test_first_question_titles_an_untitled_conversation(tmp_path: Path) -> None:
    store = _store(tmp_path)
    untitled = store.create("", "kb")
    store.append("", "kb", untitled.id, "  How much\nmemory?  ", _answer("6 GB"))
    store.append("", "kb", untitled.id, "And INT8?", _answer("8 GB"))
    assert store.rename("", "kb", untitled.id, "renamed")
    titled = store.create("", "kb", title="kept")
    store.append("", "kb", titled.id, "q", _answer("a"))
    assert {c.id: c.title for c in store.conversations("", "kb")} == {
        untitled.id: "renamed",
        titled.id: "kept",
    }
    fresh = store.create("", "kb")
    store.append("", "kb", fresh.id, "How much\nmemory?", _answer("6 GB"))
    assert next(c.title for c in store.conversations("", "kb") if c.id == fresh.id) == "How much memory?"


def test_least_recently_used_conversations_of_a_caller_go_first(tmp_path: Path) -> None:
    store = _store(tmp_path, max_conversations=2)
    store.append("", "kb", "old", "q", _answer("a"))
    store.append("", "kb", "recent", "q", _answer("a"))
    store.append("other", "kb", "theirs", "q", _answer("a"))
    store.history("", "kb", "old")  # touching it makes "recent" the least recently used
    store.append("", "kb", "new", "q", _answer("a"))
    assert sorted(c.id for c in store.conversations("", "kb")) == ["new", "old"]
    assert [c.id for c in store.conversations("other", "kb")] == ["theirs"]


def test_ratings_are_stored_cleared_and_listed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = store.append("", "kb", "s", "INT4?", _answer("6 GB [1]"))
    second = store.append("", "kb", "s", "INT8?", _answer("9 GB"))
    assert store.rate("", "kb", "s", first, "up")
    assert store.rate("", "kb", "s", second, "down", "it is 8 GB")
    assert not store.rate("", "kb", "s", 7, "up")
    assert [(kb, turn.question, turn.rating, turn.comment) for kb, turn in store.rated()] == [
        ("kb", "INT4?", "up", ""),
        ("kb", "INT8?", "down", "it is 8 GB"),
    ]
    assert store.rate("", "kb", "s", second, None)
    assert [turn.question for _, turn in store.rated("kb")] == ["INT4?"]
    assert store.rated("elsewhere") == []


def test_rejects_nonsense_bounds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        _store(tmp_path, max_turns=0)
