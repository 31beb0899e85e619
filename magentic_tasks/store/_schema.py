"""The mirror's tables and their migrations, applied once per store."""

from __future__ import annotations

import logging
import sqlite3

from ..errors import StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE tasks (
            task_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
            prompt TEXT NOT NULL,
            use_aoai INTEGER NOT NULL,
            model_name TEXT NOT NULL,
            owner TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            error TEXT,
            outcome_json TEXT,
            final_attempt INTEGER
        )""",
        """CREATE TABLE attempts (
            task_id TEXT NOT NULL REFERENCES tasks(task_id),
            attempt INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            usage_json TEXT,
            error TEXT,
            PRIMARY KEY (task_id, attempt)
        )""",
        """CREATE TABLE messages (
            task_id TEXT NOT NULL REFERENCES tasks(task_id),
            attempt INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            source TEXT NOT NULL,
            type TEXT NOT NULL,
            content TEXT NOT NULL,
            PRIMARY KEY (task_id, attempt, seq)
        )""",
    ),
}


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(f"task database schema v{current} is newer than this code (v{SCHEMA_VERSION})")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        logger.info("task database migrated to schema v%d", version)
