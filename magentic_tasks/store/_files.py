"""A task's files as the mirror keeps them, and a finished run whose outputs still wait for Blob Storage.

`task_files`: one row per kept file (`input`: an attachment once staged or known; `output`: what
the run kept, replaced whole at each sync), with the blob that holds it. `finishing_outcomes`: the
outcome of a run that ended but whose outputs could not be stored yet; the retried activity stores
them and records this outcome instead of running the team again.

`MIGRATION` is one schema step (its number is given in `_schema`); `delete_task` removes these rows
with the task's others (every table with a `task_id` column).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..clock import iso
from ..schemas import RunOutcome

MIGRATION: tuple[str, ...] = (
    """CREATE TABLE task_files (
        task_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('input', 'output')),
        name TEXT NOT NULL,
        size INTEGER,
        sha256 TEXT,
        content_type TEXT NOT NULL,
        blob TEXT NOT NULL,
        PRIMARY KEY (task_id, kind, name)
    )""",
    """CREATE TABLE finishing_outcomes (
        task_id TEXT PRIMARY KEY,
        attempt INTEGER NOT NULL,
        outcome_json TEXT NOT NULL,
        saved_at TEXT NOT NULL
    )""",
)


@dataclass(frozen=True)
class FileRow:
    """A file of a task: `name` is its workspace path; `size`/`sha256` None for a URL not fetched yet."""

    kind: Literal["input", "output"]
    name: str
    size: int | None
    sha256: str | None
    content_type: str
    blob: str


def record_files(conn: sqlite3.Connection, task_id: str, rows: list[FileRow], *, replace_outputs: bool) -> None:
    """Insert or update `rows`; with `replace_outputs`, the task's outputs become exactly these."""
    if replace_outputs:
        conn.execute("DELETE FROM task_files WHERE task_id = ? AND kind = 'output'", (task_id,))
    conn.executemany(
        """INSERT INTO task_files (task_id, kind, name, size, sha256, content_type, blob)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (task_id, kind, name) DO UPDATE SET
             size = COALESCE(excluded.size, size), sha256 = COALESCE(excluded.sha256, sha256),
             content_type = excluded.content_type, blob = excluded.blob""",
        [(task_id, r.kind, r.name, r.size, r.sha256, r.content_type, r.blob) for r in rows],
    )


def file_rows(conn: sqlite3.Connection, task_id: str) -> list[FileRow]:
    rows = conn.execute(
        "SELECT kind, name, size, sha256, content_type, blob FROM task_files WHERE task_id = ? ORDER BY kind, name",
        (task_id,),
    )
    return [FileRow(r["kind"], r["name"], r["size"], r["sha256"], r["content_type"], r["blob"]) for r in rows]


def save_finishing(conn: sqlite3.Connection, task_id: str, attempt: int, outcome: RunOutcome, at: datetime) -> None:
    conn.execute(
        """INSERT INTO finishing_outcomes (task_id, attempt, outcome_json, saved_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (task_id) DO NOTHING""",
        (task_id, attempt, outcome.model_dump_json(), iso(at)),
    )


def finishing(conn: sqlite3.Connection, task_id: str) -> tuple[int, RunOutcome] | None:
    row = conn.execute("SELECT attempt, outcome_json FROM finishing_outcomes WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else (int(row["attempt"]), RunOutcome.model_validate_json(row["outcome_json"]))


def drop_finishing(conn: sqlite3.Connection, task_id: str) -> None:
    conn.execute("DELETE FROM finishing_outcomes WHERE task_id = ?", (task_id,))
