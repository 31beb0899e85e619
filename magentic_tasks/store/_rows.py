"""The statements several row kinds need: a pending task, message rows, an attempt's usage.

Text is bound through `text.storable`: a string SQLite cannot encode (a lone surrogate) is stored
with U+FFFD in its place instead of failing the write."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..clock import iso
from ..schemas import MessageView, TaskInput, TaskProgress, TokenUsage
from ..text import storable

MessageRow = tuple[str, int, int, str, str, str]


def insert_pending(conn: sqlite3.Connection, task: TaskInput) -> bool:
    """Insert the task as pending unless it exists; whether it was inserted."""
    cursor = conn.execute(
        """INSERT OR IGNORE INTO tasks
           (task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at)
           VALUES (?, 'pending', ?, ?, ?, ?, ?, ?)""",
        (task.task_id, storable(task.prompt), int(task.use_aoai), storable(task.model_name),
         None if task.owner is None else storable(task.owner),
         iso(task.created_at), iso(task.created_at)),
    )
    return cursor.rowcount == 1


def message_rows(task_id: str, attempt: int, first_seq: int, messages: Sequence[MessageView]) -> list[MessageRow]:
    """Rows for transcript entries `first_seq`, `first_seq + 1`, ... of the attempt."""
    return [(task_id, attempt, first_seq + offset, m.source, m.type, m.content) for offset, m in enumerate(messages)]


def insert_messages(conn: sqlite3.Connection, rows: Sequence[MessageRow]) -> None:
    """Transcript rows (task_id, attempt, seq, source, type, content); a stored seq is kept as it is.

    Each new row takes the task's next stream `position`: writers hold the write lock in turn, so
    positions are dense and a reader never sees a later position before an earlier one commits. A
    task's own file keys messages by position alone (no second index to write: on a share every
    page costs round trips), so a stored seq is looked for, not caught as a conflict."""
    for task_id, attempt, seq, source, kind, content in rows:
        conn.execute(
            """INSERT INTO messages (task_id, attempt, seq, source, type, content, position)
               SELECT ?, ?, ?, ?, ?, ?, COALESCE(MAX(position), -1) + 1 FROM messages WHERE task_id = ?
               HAVING NOT EXISTS (SELECT 1 FROM messages WHERE task_id = ? AND attempt = ? AND seq = ?)""",
            (task_id, attempt, seq, storable(source), storable(kind), storable(content), task_id, task_id, attempt,
             seq),
        )


def read_messages(conn: sqlite3.Connection, task_id: str, attempt: int | None) -> list[MessageView]:
    if attempt is None:
        return []
    rows = conn.execute(
        "SELECT source, content, type FROM messages WHERE task_id = ? AND attempt = ? ORDER BY seq",
        (task_id, attempt),
    ).fetchall()
    return [MessageView(source=row["source"], content=row["content"], type=row["type"]) for row in rows]


def usage_json(usage: dict[str, TokenUsage]) -> str:
    return json.dumps({agent: u.model_dump() for agent, u in usage.items()})


def set_attempt_usage(conn: sqlite3.Connection, task_id: str, attempt: int, usage: dict[str, TokenUsage]) -> None:
    """The attempt's own tokens so far (every completed model call it has recorded)."""
    conn.execute(
        "UPDATE attempts SET usage_json = ? WHERE task_id = ? AND attempt = ?", (usage_json(usage), task_id, attempt)
    )


def set_attempt_progress(conn: sqlite3.Connection, task_id: str, attempt: int, progress: TaskProgress) -> None:
    conn.execute(
        "UPDATE attempts SET progress_json = ? WHERE task_id = ? AND attempt = ?",
        (storable(progress.model_dump_json()), task_id, attempt),
    )


def end_attempt(
    conn: sqlite3.Connection, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
) -> None:
    """The attempt is over: when, its tokens, and the error it ended with (None when it did not fail)."""
    conn.execute(
        "UPDATE attempts SET finished_at = ?, usage_json = ?, error = ? WHERE task_id = ? AND attempt = ?",
        (iso(at), usage_json(usage), None if error is None else storable(error), task_id, attempt),
    )
