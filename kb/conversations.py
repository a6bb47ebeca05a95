"""Conversations kept on disk: what each caller asked a knowledge base, what kb answered, and how it was rated.

One SQLite file in ``KB_HOME`` serves every knowledge base. A conversation belongs to one caller (the API key
it came with) and one knowledge base, so a key holder cannot read another's conversation by guessing its id.
The server keeps a conversation's turns for the web page and hands the last few to the model as history; the
CLI exports rated turns as an evaluation file (``kb feedback export``), so what users mark becomes test cases.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ingest.manifest import immediate_transaction
from kbtypes.answer import Answer, Source
from kbtypes.errors import ConfigError

__all__ = ["Conversation", "ConversationStore", "Rating", "Turn"]

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    caller  TEXT NOT NULL,
    kb      TEXT NOT NULL,
    id      TEXT NOT NULL,
    title   TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    used    INTEGER NOT NULL,
    PRIMARY KEY (caller, kb, id)
);
CREATE TABLE IF NOT EXISTS turns (
    caller   TEXT NOT NULL,
    kb       TEXT NOT NULL,
    id       TEXT NOT NULL,
    n        INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer   TEXT NOT NULL,
    refused  INTEGER NOT NULL DEFAULT 0,
    mode     TEXT NOT NULL DEFAULT '',
    sources  TEXT NOT NULL DEFAULT '[]',
    rating   TEXT,
    comment  TEXT NOT NULL DEFAULT '',
    created  REAL NOT NULL,
    PRIMARY KEY (caller, kb, id, n),
    FOREIGN KEY (caller, kb, id) REFERENCES conversations (caller, kb, id) ON DELETE CASCADE
);
"""

_TITLE_CHARS = 80


class Turn(BaseModel):
    """One question and its answer, with the passages it was written from and the user's rating."""

    n: int = Field(description="Position in the conversation, from 0.")
    question: str
    answer: str
    refused: bool = False
    mode: str = Field(
        default="", description="generated, retried, extractive or refused ('' when not known)."
    )
    sources: list[Source] = Field(default_factory=list)
    rating: Rating | None = None
    comment: str = ""
    created: float


class Conversation(BaseModel):
    """A conversation's header: the list view shows these."""

    id: str
    kb: str
    title: str
    created: float
    turns: int = Field(description="How many turns it holds.")


class ConversationStore:
    """Conversations in one SQLite file; at most ``max_conversations`` per caller (least recently used go)."""

    def __init__(self, path: Path, *, max_turns: int, max_conversations: int = 1000) -> None:
        """Open (creating if needed) the store at ``path``.

        Args:
            path: the SQLite file.
            max_turns: turns of history handed to the model (every turn stays stored).
            max_conversations: conversations kept per caller.
        """
        if max_turns < 1 or max_conversations < 1:
            raise ValueError("max_turns and max_conversations must be positive")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_turns = max_turns
        self.max_conversations = max_conversations
        # The server calls in from worker threads; one lock keeps each multi-statement change whole.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the database handle."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, immediate_transaction(self._db) as db:
            yield db

    # -- conversations ------------------------------------------------------------------------------

    def create(self, caller: str, kb: str, *, title: str = "") -> Conversation:
        """Start an empty conversation with a fresh id."""
        conversation_id = secrets.token_urlsafe(12)
        with self._transaction() as db:
            created = self._insert(db, caller, kb, conversation_id, title)
        return Conversation(id=conversation_id, kb=kb, title=title[:_TITLE_CHARS], created=created, turns=0)

    def conversations(self, caller: str, kb: str) -> list[Conversation]:
        """The caller's conversations with ``kb``, most recently used first."""
        rows = self._db.execute(
            "SELECT c.id, c.title, c.created, COUNT(t.n) FROM conversations c LEFT JOIN turns t "
            "ON t.caller = c.caller AND t.kb = c.kb AND t.id = c.id WHERE c.caller = ? AND c.kb = ? "
            "GROUP BY c.id ORDER BY c.used DESC",
            (caller, kb),
        ).fetchall()
        return [
            Conversation(id=i, kb=kb, title=title, created=created, turns=n) for i, title, created, n in rows
        ]

    def turns(self, caller: str, kb: str, conversation_id: str) -> list[Turn] | None:
        """Every turn of the conversation, oldest first; None when the caller has no such conversation."""
        if not self._exists(caller, kb, conversation_id):
            return None
        rows = self._db.execute(
            "SELECT n, question, answer, refused, mode, sources, rating, comment, created FROM turns "
            "WHERE caller = ? AND kb = ? AND id = ? ORDER BY n",
            (caller, kb, conversation_id),
        ).fetchall()
        return [_turn(row) for row in rows]

    def rename(self, caller: str, kb: str, conversation_id: str, title: str) -> bool:
        """Give the conversation a title; False when there is no such conversation."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE conversations SET title = ? WHERE caller = ? AND kb = ? AND id = ?",
                (title[:_TITLE_CHARS], caller, kb, conversation_id),
            ).rowcount
        return changed > 0

    def delete(self, caller: str, kb: str, conversation_id: str) -> bool:
        """Delete the conversation and its turns; False when there was none."""
        with self._transaction() as db:
            return (
                db.execute(
                    "DELETE FROM conversations WHERE caller = ? AND kb = ? AND id = ?",
                    (caller, kb, conversation_id),
                ).rowcount
                > 0
            )

    def forget_kb(self, kb: str) -> None:
        """Drop every conversation with a deleted knowledge base."""
        with self._transaction() as db:
            db.execute("DELETE FROM conversations WHERE kb = ?", (kb,))

    # -- turns ----------------------------------------------------------------------------------------

    def history(self, caller: str, kb: str, conversation_id: str) -> list[tuple[str, str]]:
        """The last ``max_turns`` (question, answer) pairs, oldest first, refusals left out (empty if unknown).

        Reading a conversation's history counts as using it.
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE conversations SET used = (SELECT COALESCE(MAX(used), 0) + 1 FROM conversations) "
                "WHERE caller = ? AND kb = ? AND id = ?",
                (caller, kb, conversation_id),
            )
            rows = db.execute(
                "SELECT question, answer FROM turns WHERE caller = ? AND kb = ? AND id = ? AND refused = 0 "
                "ORDER BY n DESC LIMIT ?",
                (caller, kb, conversation_id, self.max_turns),
            ).fetchall()
        return [(question, answer) for question, answer in reversed(rows)]

    def append(
        self,
        caller: str,
        kb: str,
        conversation_id: str,
        question: str,
        answer: Answer,
        *,
        earlier: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Record one turn and return its number; an unknown id starts a conversation (seeded with ``earlier``).

        The conversation's title, when it has none, is the first question.
        """
        sources = json.dumps(
            [source.model_dump(mode="json") for source in answer.sources], ensure_ascii=False
        )
        with self._transaction() as db:
            if not self._exists(caller, kb, conversation_id):
                self._insert(db, caller, kb, conversation_id, "")
                for question_before, answer_before in earlier:
                    self._add_turn(
                        db, caller, kb, conversation_id, question_before, answer_before, "[]", False, ""
                    )
            db.execute(
                "UPDATE conversations SET title = ? WHERE caller = ? AND kb = ? AND id = ? AND title = ''",
                (" ".join(question.split())[:_TITLE_CHARS], caller, kb, conversation_id),
            )
            return self._add_turn(
                db, caller, kb, conversation_id, question, answer.answer, sources, answer.refused, answer.mode
            )

    def rate(
        self, caller: str, kb: str, conversation_id: str, n: int, rating: Rating | None, comment: str = ""
    ) -> bool:
        """Store (or clear, with None) the user's rating of turn ``n``; False when there is no such turn."""
        with self._transaction() as db:
            return (
                db.execute(
                    "UPDATE turns SET rating = ?, comment = ? WHERE caller = ? AND kb = ? AND id = ? AND n = ?",
                    (rating, comment, caller, kb, conversation_id, n),
                ).rowcount
                > 0
            )

    def rated(self, kb: str | None = None) -> list[tuple[str, Turn]]:
        """Every rated turn of every caller as (knowledge base, turn), oldest first."""
        query = (
            "SELECT kb, n, question, answer, refused, mode, sources, rating, comment, created FROM turns "
            "WHERE rating IS NOT NULL" + (" AND kb = ?" if kb else "") + " ORDER BY created"
        )
        rows = self._db.execute(query, (kb,) if kb else ()).fetchall()
        return [(row[0], _turn(row[1:])) for row in rows]

    # -- internals ------------------------------------------------------------------------------------

    def _exists(self, caller: str, kb: str, conversation_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM conversations WHERE caller = ? AND kb = ? AND id = ?",
            (caller, kb, conversation_id),
        ).fetchone()
        return row is not None

    def _insert(
        self, db: sqlite3.Connection, caller: str, kb: str, conversation_id: str, title: str
    ) -> float:
        """Insert the conversation (evicting the caller's least recently used beyond the bound); its creation time."""
        created = time.time()
        db.execute(
            "INSERT INTO conversations (caller, kb, id, title, created, used) "
            "VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(used), 0) + 1 FROM conversations))",
            (caller, kb, conversation_id, title[:_TITLE_CHARS], created),
        )
        db.execute(
            "DELETE FROM conversations WHERE rowid IN (SELECT rowid FROM conversations WHERE caller = ? "
            "ORDER BY used DESC LIMIT -1 OFFSET ?)",
            (caller, self.max_conversations),
        )
        return created

    @staticmethod
    def _add_turn(
        db: sqlite3.Connection,
        caller: str,
        kb: str,
        conversation_id: str,
        question: str,
        answer: str,
        sources: str,
        refused: bool,
        mode: str,
    ) -> int:
        (n,) = db.execute(
            "SELECT COALESCE(MAX(n) + 1, 0) FROM turns WHERE caller = ? AND kb = ? AND id = ?",
            (caller, kb, conversation_id),
        ).fetchone()
        db.execute(
            "INSERT INTO turns (caller, kb, id, n, question, answer, refused, mode, sources, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (caller, kb, conversation_id, n, question, answer, int(refused), mode, sources, time.time()),
        )
        return int(n)


def _turn(row: Sequence[Any]) -> Turn:
    n, question, answer, refused, mode, sources, rating, comment, created = row
    try:
        parsed = [Source.model_validate(item) for item in json.loads(sources)]
    except (ValueError, TypeError) as e:
        raise ConfigError(f"conversation store holds an unreadable turn: {e}") from e
    return Turn(
        n=n,
        question=question,
        answer=answer,
        refused=bool(refused),
        mode=mode,
        sources=parsed,
        rating=rating,
        comment=comment,
        created=created,
    )
