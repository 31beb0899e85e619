"""Attempts (runs of the team), their token usage and progress, and the message stream they write
(a task's own file)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile

from ..clock import iso
from ..schemas import IMAGE_REF_TYPE, IMAGE_TYPE, MessageView, TaskProgress, TokenUsage
from ._rows import insert_messages, message_rows, read_messages, set_attempt_progress

StreamEntry = tuple[int, int, MessageView]  # (position in the task's stream, attempt, message)


def begin_attempt(conn: sqlite3.Connection, task_id: str, at: datetime) -> int:
    """A new attempt row; its number."""
    (last,) = conn.execute("SELECT COALESCE(MAX(attempt), 0) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()
    attempt = int(last) + 1
    conn.execute("INSERT INTO attempts (task_id, attempt, started_at) VALUES (?, ?, ?)", (task_id, attempt, iso(at)))
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
    """One more row than asked for tells whether anything lies beyond the page. A page is the run of
    one attempt's messages from `after`: it ends before the first message of another attempt, so
    that `next_after` never passes a message of another attempt (two copies of a run streaming at
    once interleave)."""
    rows = conn.execute(
        """SELECT position, attempt, source, content, type FROM messages
           WHERE task_id = ? AND position >= ? ORDER BY position LIMIT ?""",
        (task_id, after, limit + 1),
    ).fetchall()
    page = [(int(r["position"]), int(r["attempt"]),
             MessageView(source=r["source"], content=r["content"], type=r["type"])) for r in rows]
    run = list(takewhile(lambda entry: entry[1] == page[0][1], page[:limit])) if page else []
    return run, len(run) == len(page)


def keep_transcript(conn: sqlite3.Connection, task_id: str, attempt: int, messages: Sequence[MessageView]) -> None:
    """An outcome's transcript, stored as `attempt`'s where that holds fewer entries (a result
    copied back from Durable state, or a run whose last batches could not be written)."""
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE task_id = ? AND attempt = ?", (task_id, attempt)
    ).fetchone()
    if count < len(messages):
        insert_messages(conn, message_rows(task_id, attempt, 0, messages))


def streamed_attempt(conn: sqlite3.Connection, task_id: str, messages: Sequence[MessageView]) -> int | None:
    """The latest attempt when its stored transcript is `messages` (an image there matches Durable
    state's reference to it): a result copied back from Durable state that the run itself streamed,
    whose outcome alone was lost (a crash between the two files' writes, or the shared file locked)."""
    last = last_attempt(conn, task_id)
    stored = read_messages(conn, task_id, last)
    same = len(stored) == len(messages) and all(
        a.source == b.source and (a == b or (a.type == IMAGE_TYPE and b.type == IMAGE_REF_TYPE))
        for a, b in zip(stored, messages, strict=True)
    )
    return last if same and stored else None


def end_attempts(conn: sqlite3.Connection, task_id: str, ended: int, at: datetime, error: str | None) -> None:
    """The task is final: attempt `ended` (the one that produced its outcome, 0 for none) ends with
    `error`, and so does every attempt paused at a released checkpoint (no activity runs it, and
    none will continue it) instead of looking like a run still streaming. Before the checkpoints go."""
    conn.execute(
        """UPDATE attempts SET finished_at = ? WHERE task_id = ? AND finished_at IS NULL AND attempt IN
           (SELECT attempt FROM checkpoints WHERE task_id = ? AND held_by IS NULL)""",
        (iso(at), task_id, task_id),
    )
    if ended:
        conn.execute(
            "UPDATE attempts SET finished_at = ?, error = ? WHERE task_id = ? AND attempt = ? AND finished_at IS NULL",
            (iso(at), error, task_id, ended),
        )


def attempt_open(conn: sqlite3.Connection, task_id: str, started_after: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM attempts WHERE task_id = ? AND finished_at IS NULL AND started_at > ? LIMIT 1",
        (task_id, iso(started_after)),
    ).fetchone()
    return row is not None
