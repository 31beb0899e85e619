"""Task rows (the shared file): existence, the snapshot, lifecycle transitions and the final outcome."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..clock import as_utc, iso
from ..schemas import STOPPED, RunOutcome, TaskInput, TaskSnapshot, TaskStatus
from ..text import storable_json
from ._rows import insert_pending


def task_exists(conn: sqlite3.Connection, task_id: str) -> bool:
    return conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone() is not None


def get_task(conn: sqlite3.Connection, task_id: str) -> tuple[TaskSnapshot, int | None] | None:
    """The task, with its outcome (without the transcript) once it has finished, and the attempt
    whose transcript is the result's."""
    row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        return None
    outcome, final_attempt = held_outcome(conn, task_id)
    snapshot = TaskSnapshot(
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
    return snapshot, final_attempt


def set_status(conn: sqlite3.Connection, task_id: str, status: TaskStatus, at: datetime) -> bool:
    cursor = conn.execute(
        """UPDATE tasks SET status = ?, updated_at = ?
           WHERE task_id = ? AND status NOT IN ('completed', 'failed', 'cancelled')""",
        (status, iso(at), task_id),
    )
    return cursor.rowcount == 1


def mark_running(conn: sqlite3.Connection, task: TaskInput, at: datetime) -> None:
    """An attempt began: the task's row (made if missing) says running, unless the task is final."""
    insert_pending(conn, task)
    set_status(conn, task.task_id, "running", at)


def record_outcome(
    conn: sqlite3.Connection, task: TaskInput, outcome: RunOutcome, attempt: int
) -> tuple[RunOutcome, int | None]:
    """Record the outcome unless the task has one (the first written wins); the outcome held after
    (without its transcript) and the attempt whose transcript goes with it.

    Every writer (two copies of the run activity, a terminated run, the read path's repair) thus
    ends with the same answer; the one exception is `_fills_in`."""
    fields = storable_json(outcome.model_dump(mode="json", exclude={"messages"}))
    insert_pending(conn, task)
    held, final_attempt = held_outcome(conn, task.task_id)
    if held is not None and not _fills_in(held, final_attempt, outcome, attempt):
        return held, final_attempt
    conn.execute(
        """UPDATE tasks SET status = ?, updated_at = ?, error = ?, outcome_json = ?, final_attempt = ?
           WHERE task_id = ?""",
        (outcome.status, iso(outcome.finished_at), fields["error"], json.dumps(fields, ensure_ascii=False), attempt,
         task.task_id),
    )
    written, final_attempt = held_outcome(conn, task.task_id)
    assert written is not None  # the row exists and this transaction holds the write lock
    return written, final_attempt


def _fills_in(held: RunOutcome, final_attempt: int | None, outcome: RunOutcome, attempt: int) -> bool:
    """Whether `outcome` completes the held one instead of losing to it: the same decision (the
    orchestration was terminated) first copied from Durable state without a transcript (attempt 0),
    now recorded by the stopped run itself with its transcript and tokens."""
    return held.stop_reason == outcome.stop_reason == STOPPED and not final_attempt and attempt > 0


def held_outcome(conn: sqlite3.Connection, task_id: str) -> tuple[RunOutcome | None, int | None]:
    """The task's recorded outcome (without its transcript: that is in the task's own file) and the
    attempt whose transcript goes with it; None before it finishes."""
    row = conn.execute("SELECT outcome_json, final_attempt FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if row is None or row["outcome_json"] is None:
        return None, None
    return RunOutcome.model_validate_json(row["outcome_json"]), row["final_attempt"]


def parse_timestamp(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))
