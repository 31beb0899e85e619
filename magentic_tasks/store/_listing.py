"""Listing and retention: pages of an owner's tasks, newest first; finished tasks by age; deletion."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..clock import iso
from ..schemas import TaskSummary
from ._tasks import parse_timestamp

# (created_at, task_id) of the last task of the previous page, as the store writes them.
PageKey = tuple[str, str]


def page_key(summary: TaskSummary) -> PageKey:
    """The key that continues a listing after `summary`."""
    return iso(summary.created_at), summary.task_id


def list_tasks(
    conn: sqlite3.Connection, *, owner: str | None, status: str | None, limit: int, after: PageKey | None
) -> list[TaskSummary]:
    """Served by an index on (owner, created_at, task_id), like every query here over many tasks."""
    clauses = ["owner IS ?"]
    params: list[object] = [owner]
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    if after is not None:
        clauses.append("(created_at, task_id) < (?, ?)")
        params.extend(after)
    sql = (
        "SELECT task_id, status, model_name, created_at, updated_at FROM tasks WHERE "
        + " AND ".join(clauses)
        + " ORDER BY created_at DESC, task_id DESC LIMIT ?"
    )
    params.append(limit)
    return [
        TaskSummary(
            task_id=row["task_id"],
            status=row["status"],
            model_name=row["model_name"],
            created_at=parse_timestamp(row["created_at"]),
            updated_at=parse_timestamp(row["updated_at"]),
        )
        for row in conn.execute(sql, params)
    ]


def delete_task(conn: sqlite3.Connection, task_id: str) -> bool:
    """Every table with a `task_id` column is found in the schema, so a new one is never forgotten."""
    tables = [
        row["name"]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'tasks'")
        if any(column["name"] == "task_id" for column in conn.execute(f'PRAGMA table_info("{row["name"]}")'))
    ]
    for table in tables:
        conn.execute(f'DELETE FROM "{table}" WHERE task_id = ?', (task_id,))
    return conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)).rowcount == 1


def finished_before(conn: sqlite3.Connection, moment: datetime, limit: int) -> list[str]:
    rows = conn.execute(
        """SELECT task_id FROM tasks WHERE outcome_json IS NOT NULL AND updated_at < ?
           ORDER BY updated_at LIMIT ?""",
        (iso(moment), limit),
    )
    return [row["task_id"] for row in rows]
