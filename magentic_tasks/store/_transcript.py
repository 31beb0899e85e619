"""Attempts (runs of the team), their token usage and progress, and the message stream they write."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..clock import iso
from ..schemas import MessageView, TaskInput, TaskProgress, TokenUsage
from ._rows import insert_messages, insert_pending, message_rows, set_attempt_progress

StreamEntry = tuple[int, int, MessageView]  # (position in the task's stream, attempt, message)


def begin_attempt(conn: sqlite3.Connection, task: TaskInput, at: datetime) -> int:
    """A new attempt row (and the task row, if missing; the task now runs unless final); its number."""
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


def append_messages(
    conn: sqlite3.Connection,
    task_id: str,
    attempt: int,
    first_seq: int,
    messages: Sequence[MessageView],
    progress: TaskProgress | None,
) -> None:
    insert_messages(conn, message_rows(task_id, attempt, first_seq, messages))
    if progress is not None:
        set_attempt_progress(conn, task_id, attempt, progress)


def attempt_usage(conn: sqlite3.Connection, task_id: str) -> dict[int, dict[str, TokenUsage]]:
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


def attempt_error(conn: sqlite3.Connection, task_id: str, attempt: int) -> str | None:
    row = conn.execute(
        "SELECT error FROM attempts WHERE task_id = ? AND attempt = ?", (task_id, attempt)
    ).fetchone()
    return None if row is None or row["error"] is None else str(row["error"])


def last_attempt(conn: sqlite3.Connection, task_id: str) -> int | None:
    (last,) = conn.execute("SELECT MAX(attempt) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()
    return None if last is None else int(last)


def task_progress(conn: sqlite3.Connection, task_id: str) -> TaskProgress | None:
    """The latest attempt's progress, its token counts raised by what every earlier attempt used."""
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


def stream_page(conn: sqlite3.Connection, task_id: str, after: int, limit: int) -> tuple[list[StreamEntry], bool]:
    """One more row than asked for tells whether anything lies beyond the page; a page stops where
    the attempt changes."""
    rows = conn.execute(
        """SELECT position, attempt, source, content, type FROM messages
           WHERE task_id = ? AND position >= ? ORDER BY position LIMIT ?""",
        (task_id, after, limit + 1),
    ).fetchall()
    page = [(int(r["position"]), int(r["attempt"]),
             MessageView(source=r["source"], content=r["content"], type=r["type"])) for r in rows]
    same = [entry for entry in page[:limit] if entry[1] == page[0][1]] if page else []
    return same, len(same) == len(page)


def attempt_open(conn: sqlite3.Connection, task_id: str, started_after: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM attempts WHERE task_id = ? AND finished_at IS NULL AND started_at > ? LIMIT 1",
        (task_id, iso(started_after)),
    ).fetchone()
    return row is not None
