"""Listing and removing tasks: pages of an owner's tasks, newest first, and whole-task deletion."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..clock import iso
from ..schemas import TaskSummary
from ._connection import Database
from ._tasks import parse_timestamp

# (created_at, task_id) of the last task of the previous page, as the store writes them.
PageKey = tuple[str, str]


def page_key(summary: TaskSummary) -> PageKey:
    return iso(summary.created_at), summary.task_id


class TaskListing(Database):
    """Queries over many tasks; every one is served by an index on (owner, created_at, task_id)."""

    def list_tasks(
        self, *, owner: str | None, status: str | None, limit: int, after: PageKey | None = None
    ) -> list[TaskSummary]:
        """Up to `limit` of `owner`'s tasks (owner None: tasks created without a principal),
        newest first, optionally of one status, after the page key `after`."""
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

        def work(conn: sqlite3.Connection) -> list[TaskSummary]:
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

        return self.read(work)

    def delete_task(self, task_id: str) -> bool:
        """Remove every row of the task, from every table that has a `task_id` column (transcript,
        attempts, progress, checkpoints...); whether the task existed."""

        def work(conn: sqlite3.Connection) -> bool:
            tables = [
                row["name"]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'tasks'")
                if any(column["name"] == "task_id" for column in conn.execute(f'PRAGMA table_info("{row["name"]}")'))
            ]
            for table in tables:
                conn.execute(f'DELETE FROM "{table}" WHERE task_id = ?', (task_id,))
            return conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)).rowcount == 1

        return self.write(work)

    def finished_before(self, moment: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` finished tasks last updated before `moment`, oldest first."""

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                """SELECT task_id FROM tasks WHERE outcome_json IS NOT NULL AND updated_at < ?
                   ORDER BY updated_at LIMIT ?""",
                (iso(moment), limit),
            )
            return [row["task_id"] for row in rows]

        return self.read(work)
