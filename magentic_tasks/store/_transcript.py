"""Attempts (runs of the team) and the transcript each one streams, message by message."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..clock import iso
from ..schemas import MessageView, TaskInput, TaskProgress, TokenUsage
from ._connection import Database
from ._rows import (
    end_attempt,
    insert_messages,
    insert_pending,
    message_rows,
    read_messages,
    set_attempt_progress,
)


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
                   WHERE task_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')""",
                (iso(at), task.task_id),
            )
            return attempt

        return self.write(work)

    def append_messages(
        self,
        task_id: str,
        attempt: int,
        first_seq: int,
        messages: Sequence[MessageView],
        progress: TaskProgress | None = None,
    ) -> None:
        """Store transcript entries `first_seq`, `first_seq + 1`, ...; entries already stored stay as
        they are. `progress` (the attempt's own, tokens of this attempt) goes in the same transaction."""
        rows = message_rows(task_id, attempt, first_seq, messages)

        def work(conn: sqlite3.Connection) -> None:
            insert_messages(conn, rows)
            if progress is not None:
                set_attempt_progress(conn, task_id, attempt, progress)

        if rows:
            self.write(work)

    def finish_attempt(
        self, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
    ) -> None:
        self.write(lambda conn: end_attempt(conn, task_id, attempt, at, usage, error))

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

        return self.read(work)

    def attempt_error(self, task_id: str, attempt: int) -> str | None:
        """The error a finished attempt recorded itself; None while it runs, or when it crashed."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT error FROM attempts WHERE task_id = ? AND attempt = ?", (task_id, attempt)
            ).fetchone()
            return None if row is None or row["error"] is None else str(row["error"])

        return self.read(work)

    def messages(self, task_id: str, attempt: int) -> list[MessageView]:
        return self.read(lambda conn: read_messages(conn, task_id, attempt))

    def last_attempt(self, task_id: str) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            (last,) = conn.execute("SELECT MAX(attempt) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()
            return None if last is None else int(last)

        return self.read(work)

    def task_progress(self, task_id: str) -> TaskProgress | None:
        """The latest attempt's progress with the tokens of every attempt so far; None before any."""

        def work(conn: sqlite3.Connection) -> TaskProgress | None:
            rows = conn.execute(
                "SELECT attempt, usage_json, progress_json FROM attempts WHERE task_id = ? ORDER BY attempt",
                (task_id,),
            ).fetchall()
            if not rows or rows[-1]["progress_json"] is None:
                return None
            current = TaskProgress.model_validate_json(rows[-1]["progress_json"])
            earlier = sum(
                (TokenUsage.model_validate(u) for row in rows[:-1] if row["usage_json"]
                 for u in json.loads(row["usage_json"]).values()),
                TokenUsage(),
            )
            return current.model_copy(update={
                "prompt_tokens": current.prompt_tokens + earlier.prompt_tokens,
                "completion_tokens": current.completion_tokens + earlier.completion_tokens,
            })

        return self.read(work)

    def stream_page(self, task_id: str, after: int, limit: int) -> tuple[list[tuple[int, int, MessageView]], bool]:
        """Up to `limit` messages of the task's stream from position `after`, as (position, attempt,
        message), all of one attempt; and whether the stream holds nothing beyond them (yet)."""

        def work(conn: sqlite3.Connection) -> tuple[list[tuple[int, int, MessageView]], bool]:
            rows = conn.execute(
                """SELECT position, attempt, source, content, type FROM messages
                   WHERE task_id = ? AND position >= ? ORDER BY position LIMIT ?""",
                (task_id, after, limit + 1),
            ).fetchall()
            page = [(int(r["position"]), int(r["attempt"]),
                     MessageView(source=r["source"], content=r["content"], type=r["type"])) for r in rows]
            same = [entry for entry in page[:limit] if entry[1] == page[0][1]] if page else []
            return same, len(same) == len(page)

        return self.read(work)

    def attempt_open(self, task_id: str, started_after: datetime) -> bool:
        """Whether an attempt started after `started_after` is still streaming (has not finished)."""

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM attempts WHERE task_id = ? AND finished_at IS NULL AND started_at > ? LIMIT 1",
                (task_id, iso(started_after)),
            ).fetchone()
            return row is not None

        return self.read(work)
