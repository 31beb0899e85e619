"""The statements both task rows and transcripts need: a pending task, message rows.

Text is bound through `text.storable`: a string SQLite cannot encode (a lone surrogate) is stored
with U+FFFD in its place instead of failing the write."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..clock import iso
from ..schemas import MessageView, TaskInput
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


def insert_messages(conn: sqlite3.Connection, rows: Sequence[MessageRow]) -> None:
    """Transcript rows (task_id, attempt, seq, source, type, content); a stored seq is kept as it is.

    Each new row takes the task's next stream `position`: writers hold the write lock in turn, so
    positions are dense and a reader never sees a later position before an earlier one commits."""
    for task_id, attempt, seq, source, kind, content in rows:
        conn.execute(
            """INSERT INTO messages (task_id, attempt, seq, source, type, content, position)
               SELECT ?, ?, ?, ?, ?, ?, COALESCE(MAX(position), -1) + 1 FROM messages WHERE task_id = ?
               ON CONFLICT (task_id, attempt, seq) DO NOTHING""",
            (task_id, attempt, seq, storable(source), storable(kind), storable(content), task_id),
        )


def read_messages(conn: sqlite3.Connection, task_id: str, attempt: int | None) -> list[MessageView]:
    if attempt is None:
        return []
    rows = conn.execute(
        "SELECT source, content, type FROM messages WHERE task_id = ? AND attempt = ? ORDER BY seq",
        (task_id, attempt),
    ).fetchall()
    return [MessageView(source=row["source"], content=row["content"], type=row["type"]) for row in rows]
