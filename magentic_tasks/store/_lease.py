"""The task's lease: which run of it is live (a row in the task's own file).

Durable delivers an activity at least once, so a second copy of the run activity can start while
the first still runs. The run that goes on holds the lease, renews it while it lives, and lets it
go when its slice ends; a lease not renewed by `until` (Unix seconds) belongs to a run that died,
and the next copy may take it. Renewing writes the task's own file, never the shared one.
"""

from __future__ import annotations

import sqlite3

TABLE = "CREATE TABLE lease (task_id TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL)"


def take_lease(conn: sqlite3.Connection, task_id: str, holder: str, now: float, until: float) -> bool:
    """Take the lease unless another holder's is live; whether `holder` holds it now."""
    conn.execute(
        """INSERT INTO lease (task_id, holder, until) VALUES (?, ?, ?)
           ON CONFLICT (task_id) DO UPDATE SET holder = excluded.holder, until = excluded.until
           WHERE lease.holder = excluded.holder OR lease.until <= ?""",
        (task_id, holder, until, now),
    )
    row = conn.execute("SELECT holder FROM lease WHERE task_id = ?", (task_id,)).fetchone()
    return row is not None and row["holder"] == holder


def renew_lease(conn: sqlite3.Connection, task_id: str, holder: str, until: float) -> bool:
    """Extend `holder`'s lease; False when it is no longer `holder`'s (it expired and was taken)."""
    cursor = conn.execute("UPDATE lease SET until = ? WHERE task_id = ? AND holder = ?", (until, task_id, holder))
    return cursor.rowcount == 1


def release_lease(conn: sqlite3.Connection, task_id: str, holder: str) -> None:
    conn.execute("DELETE FROM lease WHERE task_id = ? AND holder = ?", (task_id, holder))


def end_lease(conn: sqlite3.Connection, task_id: str) -> None:
    """The task is final: no run of it goes on, whoever held its lease."""
    conn.execute("DELETE FROM lease WHERE task_id = ?", (task_id,))


def live_holder(conn: sqlite3.Connection, task_id: str, now: float) -> str | None:
    """Who holds a live lease on the task; None when nobody does."""
    row = conn.execute("SELECT holder FROM lease WHERE task_id = ? AND until > ?", (task_id, now)).fetchone()
    return None if row is None else str(row["holder"])
