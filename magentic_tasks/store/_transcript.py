"""Attempts (runs of the team) and the transcript each one streams, message by message."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..clock import iso
from ..schemas import MessageView, TaskInput, TokenUsage
from ..text import storable
from ._connection import Database
from ._rows import insert_messages, insert_pending, read_messages


class TranscriptRows(Database):
    """Every attempt at a task, its token usage, and the messages it streamed."""

    def begin_attempt(self, task: TaskInput, at: datetime) -> int:
        """Record a new run of the team (creating the task row if it is missing); its number."""

        def work(conn: sqlite3.Connection) -> int:
            insert_pending(conn, task)
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM attempts WHERE task_id = ?", (task.task_id,)
            ).fetchone()
            attempt = int(last) + 1
            conn.execute(
                "INSERT INTO attempts (task_id, attempt, started_at) VALUES (?, ?, ?)",
                (task.task_id, attempt, iso(at)),
            )
            conn.execute(
                """UPDATE tasks SET status = 'running', updated_at = ?
                   WHERE task_id = ? AND status NOT IN ('completed', 'failed')""",
                (iso(at), task.task_id),
            )
            return attempt

        return self._run(work, write=True)

    def append_messages(self, task_id: str, attempt: int, first_seq: int, messages: Sequence[MessageView]) -> None:
        """Store transcript entries `first_seq`, `first_seq + 1`, ...; entries already stored stay as they are."""
        rows = [
            (task_id, attempt, first_seq + offset, m.source, m.type, m.content)
            for offset, m in enumerate(messages)
        ]

        def work(conn: sqlite3.Connection) -> None:
            insert_messages(conn, rows)

        if rows:
            self._run(work, write=True)

    def finish_attempt(
        self, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
    ) -> None:
        usage_json = json.dumps({agent: u.model_dump() for agent, u in usage.items()})

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                """UPDATE attempts SET finished_at = ?, usage_json = ?, error = ?
                   WHERE task_id = ? AND attempt = ?""",
                (iso(at), usage_json, None if error is None else storable(error), task_id, attempt),
            )

        self._run(work, write=True)

    def attempt_usage(self, task_id: str) -> dict[int, dict[str, TokenUsage]]:
        """Token usage recorded by each finished attempt, by attempt number and agent."""

        def work(conn: sqlite3.Connection) -> dict[int, dict[str, TokenUsage]]:
            rows = conn.execute(
                "SELECT attempt, usage_json FROM attempts WHERE task_id = ? AND usage_json IS NOT NULL",
                (task_id,),
            ).fetchall()
            return {
                int(row["attempt"]): {
                    agent: TokenUsage.model_validate(u) for agent, u in json.loads(row["usage_json"]).items()
                }
                for row in rows
            }

        return self._run(work, write=False)

    def attempt_error(self, task_id: str, attempt: int) -> str | None:
        """The error a finished attempt recorded itself; None while it runs, or when it crashed."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT error FROM attempts WHERE task_id = ? AND attempt = ?", (task_id, attempt)
            ).fetchone()
            return None if row is None or row["error"] is None else str(row["error"])

        return self._run(work, write=False)

    def messages(self, task_id: str, attempt: int) -> list[MessageView]:
        return self._run(lambda conn: read_messages(conn, task_id, attempt), write=False)

    def last_attempt(self, task_id: str) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            (last,) = conn.execute("SELECT MAX(attempt) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()
            return None if last is None else int(last)

        return self._run(work, write=False)

