"""Server-side conversation history per ``session_id``: a few turns per session, a bounded number of sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

__all__ = ["SessionStore"]

Turn = tuple[str, str]


class SessionStore:
    """Keeps the last ``max_turns`` (question, answer) pairs of at most ``max_sessions`` sessions.

    Sessions are keyed by caller (which API key), knowledge base and id: one id used against two knowledge
    bases keeps two conversations, and a client cannot read another key holder's conversation by guessing
    its id. When the store is full, the session used least recently is forgotten.
    """

    def __init__(self, *, max_turns: int, max_sessions: int = 1000) -> None:
        """Create an empty store.

        Args:
            max_turns: turns kept per session (older ones are dropped).
            max_sessions: sessions kept (the least recently used is dropped first).
        """
        if max_turns < 1 or max_sessions < 1:
            raise ValueError("max_turns and max_sessions must be positive")
        self.max_turns = max_turns
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[tuple[str, str, str], list[Turn]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Sessions currently kept."""
        return len(self._sessions)

    def history(self, caller: str, kb: str, session_id: str) -> list[Turn]:
        """The session's turns, oldest first (empty for an unknown session)."""
        key = (caller, kb, session_id)
        with self._lock:
            turns = self._sessions.get(key)
            if turns is None:
                return []
            self._sessions.move_to_end(key)
            return list(turns)

    def append(
        self,
        caller: str,
        kb: str,
        session_id: str,
        question: str,
        answer: str,
        *,
        earlier: Sequence[Turn] = (),
    ) -> None:
        """Record one turn, evicting the oldest turns and the least recently used session as needed.

        Args:
            caller: who asks (``server.deps.get_caller``).
            kb: knowledge base name.
            session_id: the client's session id.
            question: the question asked.
            answer: the answer given.
            earlier: client-sent history to start a session that has no turns yet.
        """
        with self._lock:
            key = (caller, kb, session_id)
            turns = self._sessions.get(key) or list(earlier)
            self._sessions[key] = turns
            self._sessions.move_to_end(key)
            turns.append((question, answer))
            del turns[: -self.max_turns]
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def forget_kb(self, kb: str) -> None:
        """Drop every session of a deleted knowledge base."""
        with self._lock:
            for key in [key for key in self._sessions if key[1] == kb]:
                del self._sessions[key]
