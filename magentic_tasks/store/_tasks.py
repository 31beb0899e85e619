"""Task rows: existence, the snapshot, lifecycle transitions and the final outcome."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..clock import as_utc, iso
from ..schemas import STOPPED, RunOutcome, TaskInput, TaskSnapshot, TaskStatus
from ..text import storable_json
from ._rows import insert_messages, insert_pending, read_messages


def task_exists(conn: sqlite3.Connection, task_id: str) -> bool:
    return conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone() is not None


def get_task(conn: sqlite3.Connection, task_id: str, *, transcript: bool) -> TaskSnapshot | None:
    row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        return None
    outcome = held_outcome(conn, task_id, transcript=transcript)
    return TaskSnapshot(
        task_id=row["task_id"],
        status=row["status"],
        prompt=row["prompt"],
        use_aoai=bool(row["use_aoai"]),
        model_name=row["model_name"],
        owner=row["owner"],
        created_at=parse_timestamp(row["created_at"]),
        updated_at=parse_timestamp(row["updated_at"]),
        outcome=outcome,
    )


def set_status(conn: sqlite3.Connection, task_id: str, status: TaskStatus, at: datetime) -> bool:
    cursor = conn.execute(
        """UPDATE tasks SET status = ?, updated_at = ?
           WHERE task_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')""",
        (status, iso(at), task_id),
    )
    return cursor.rowcount == 1


def save_outcome(conn: sqlite3.Connection, task: TaskInput, outcome: RunOutcome, attempt: int) -> RunOutcome:
    """Record the outcome unless the task has one (the first written wins); the outcome held after.

    Every writer (two copies of the run activity, a terminated run, the read path's repair) thus
    ends with the same answer; the one exception is `_fills_in`. The transcript of `attempt` is
    kept where it was streamed; where it is missing (a result copied back from Durable state) the
    outcome's own is stored. The task's round checkpoints go: it is final; and so does every
    attempt paused at one (its checkpoint released: no activity runs it, and none will continue it),
    which ends now instead of looking like a run still streaming; and so does `attempt`, the one
    that produced the outcome, in this same transaction: a run is never seen ended before its
    outcome is recorded."""
    fields = storable_json(outcome.model_dump(mode="json", exclude={"messages"}))
    stored_json = json.dumps(fields, ensure_ascii=False)
    insert_pending(conn, task)
    conn.execute(
        """UPDATE attempts SET finished_at = ? WHERE task_id = ? AND finished_at IS NULL AND attempt IN
           (SELECT attempt FROM checkpoints WHERE task_id = ? AND held_by IS NULL)""",
        (iso(outcome.finished_at), task.task_id, task.task_id),
    )
    if attempt:
        conn.execute(
            """UPDATE attempts SET finished_at = ?, error = ?
               WHERE task_id = ? AND attempt = ? AND finished_at IS NULL""",
            (iso(outcome.finished_at), fields["error"], task.task_id, attempt),
        )
    conn.execute("DELETE FROM checkpoints WHERE task_id = ?", (task.task_id,))  # a final task never resumes
    held = held_outcome(conn, task.task_id)
    if held is not None and not _fills_in(conn, task.task_id, held, outcome, attempt):
        return held
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE task_id = ? AND attempt = ?", (task.task_id, attempt)
    ).fetchone()
    if count < len(outcome.messages):
        insert_messages(
            conn, [(task.task_id, attempt, seq, m.source, m.type, m.content) for seq, m in enumerate(outcome.messages)]
        )
    conn.execute(
        """UPDATE tasks SET status = ?, updated_at = ?, error = ?, outcome_json = ?, final_attempt = ?
           WHERE task_id = ?""",
        (outcome.status, iso(outcome.finished_at), fields["error"], stored_json, attempt, task.task_id),
    )
    written = held_outcome(conn, task.task_id)
    assert written is not None  # the row exists and this transaction holds the write lock
    return written


def _fills_in(conn: sqlite3.Connection, task_id: str, held: RunOutcome, outcome: RunOutcome, attempt: int) -> bool:
    """Whether `outcome` completes the held one instead of losing to it: the same decision (the
    orchestration was terminated) first copied from Durable state without a transcript (attempt 0),
    now recorded by the stopped run itself with its transcript and tokens."""
    (final_attempt,) = conn.execute("SELECT final_attempt FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return held.stop_reason == outcome.stop_reason == STOPPED and not final_attempt and attempt > 0


def held_outcome(conn: sqlite3.Connection, task_id: str, *, transcript: bool = True) -> RunOutcome | None:
    """The task's recorded outcome with (unless not asked for) the transcript of its final attempt;
    None before it finishes."""
    row = conn.execute("SELECT outcome_json, final_attempt FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None or row["outcome_json"] is None:
        return None
    outcome = RunOutcome.model_validate_json(row["outcome_json"])
    if transcript:
        outcome.messages = read_messages(conn, task_id, row["final_attempt"])
    return outcome


def parse_timestamp(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))
