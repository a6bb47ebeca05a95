"""Server-side sessions: bounded turns per session, bounded sessions (LRU)."""

from __future__ import annotations

import pytest

from server.sessions import SessionStore


def test_keeps_only_the_last_turns() -> None:
    store = SessionStore(max_turns=2)
    for n in range(4):
        store.append("", "default", "s1", f"q{n}", f"a{n}")
    assert store.history("", "default", "s1") == [("q2", "a2"), ("q3", "a3")]


def test_client_history_starts_a_new_session_only() -> None:
    store = SessionStore(max_turns=3)
    store.append("", "default", "s1", "q2", "a2", earlier=[("q0", "a0"), ("q1", "a1")])
    assert store.history("", "default", "s1") == [("q0", "a0"), ("q1", "a1"), ("q2", "a2")]
    store.append("", "default", "s1", "q3", "a3", earlier=[("x", "y")])
    assert store.history("", "default", "s1") == [("q1", "a1"), ("q2", "a2"), ("q3", "a3")]


def test_sessions_are_per_caller() -> None:
    store = SessionStore(max_turns=2)
    store.append("key-0", "kb", "s", "mine", "a")
    assert store.history("key-1", "kb", "s") == []
    assert store.history("key-0", "kb", "s") == [("mine", "a")]


def test_sessions_are_per_knowledge_base() -> None:
    store = SessionStore(max_turns=2)
    store.append("", "a", "s", "qa", "aa")
    store.append("", "b", "s", "qb", "ab")
    assert store.history("", "a", "s") == [("qa", "aa")]
    store.forget_kb("a")
    assert store.history("", "a", "s") == []
    assert store.history("", "b", "s") == [("qb", "ab")]


def test_least_recently_used_session_is_forgotten() -> None:
    store = SessionStore(max_turns=2, max_sessions=2)
    store.append("", "kb", "old", "q", "a")
    store.append("", "kb", "recent", "q", "a")
    store.history("", "kb", "old")  # touching it makes "recent" the least recently used
    store.append("", "kb", "new", "q", "a")
    assert len(store) == 2
    assert store.history("", "kb", "recent") == []
    assert store.history("", "kb", "old") == [("q", "a")]


def test_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="positive"):
        SessionStore(max_turns=0)
