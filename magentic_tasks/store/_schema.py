"""The mirror's tables and their migrations, applied once per store, each in one transaction.

v2 (issue 8): the `cancelled` status (the tasks table is rebuilt the SQLite way, since a CHECK
constraint cannot be altered: new table, copy, drop, rename, with foreign keys off for the
connection and `foreign_key_check` before commit); `messages.position`, the task-wide stream
number a client follows (`GET /tasks/{id}/messages?after=`), numbered for existing rows by attempt
and sequence; `attempts.progress_json`, the running attempt's progress; the listing indexes.

v3 (issue 9): the `awaiting_input` status (plan review; the tasks table rebuilt as in v2, its
indexes made again) and `checkpoints`, a run's latest round boundary per attempt: the idle team's
saved state, its tokens and counters, and which run holds it (`store/_checkpoints.py`).

v4: `plan_reviews`, the one decision taken on an attempt's plan under review, first writer wins
(`store/_reviews.py`).

v5 (task files): `task_files` (a task's attachments and kept outputs, with their blobs) and
`finishing_outcomes` (a run's outcome waiting for its outputs to reach Blob Storage); the step
lives in `store/_files.py` (`MIGRATION`).

v6 (the mirror scales on a share): a task's attempts, messages, progress, usage, checkpoints, plan
reviews, file rows, held outcome and the lease of its live run live in its own file (`TASK_FILE_SCHEMA`,
`store/_task_files.py`); the shared file keeps the tasks table. Rows that v5 and earlier wrote into the
shared file stay there and are read in place, and a task run before the upgrade goes on writing
there: `layout.legacy_until` is when the file became v6 if it held any (a task created well after
that cannot have any). Code before v6 refuses a v6 file, so it never writes transcripts where v6
code does not look.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

from ..clock import as_utc
from ..errors import StoreError
from . import _files, _lease

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 6
# How much later than `legacy_until` a task must have been created to be sure it has no rows in the
# shared file's transcript tables: instances' clocks differ, and a task is created on one.
LEGACY_MARGIN = timedelta(hours=1)


def _tasks_rebuilt(suffix: str, statuses: tuple[str, ...]) -> tuple[str, ...]:
    """The tasks table rebuilt with a new status CHECK (SQLite cannot alter one: new table, copy,
    drop, rename) and its listing indexes made again."""
    columns = ("task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at, "
               "error, outcome_json, final_attempt")
    allowed = ", ".join(f"'{status}'" for status in statuses)
    return (
        f"""CREATE TABLE tasks_{suffix} (
            task_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ({allowed})),
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
        f"INSERT INTO tasks_{suffix} ({columns}) SELECT {columns} FROM tasks",
        "DROP TABLE tasks",
        f"ALTER TABLE tasks_{suffix} RENAME TO tasks",
        "CREATE INDEX IF NOT EXISTS tasks_by_owner_created ON tasks(owner, created_at DESC, task_id DESC)",
        "CREATE INDEX IF NOT EXISTS tasks_by_created ON tasks(created_at DESC, task_id DESC)",
    )


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
    2: (
        *_tasks_rebuilt("v2", ("pending", "running", "completed", "failed", "cancelled")),
        "ALTER TABLE messages ADD COLUMN position INTEGER",
        """WITH numbered AS (
               SELECT rowid AS id, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY attempt, seq) - 1 AS position
               FROM messages)
           UPDATE messages SET position = (SELECT position FROM numbered WHERE numbered.id = messages.rowid)""",
        "CREATE UNIQUE INDEX messages_by_position ON messages(task_id, position)",
        "ALTER TABLE attempts ADD COLUMN progress_json TEXT",
    ),
    3: (
        *_tasks_rebuilt("v3", ("pending", "running", "awaiting_input", "completed", "failed", "cancelled")),
        """CREATE TABLE checkpoints (
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            round INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            state_json TEXT NOT NULL,
            usage_json TEXT NOT NULL,
            elapsed REAL NOT NULL,
            deadline TEXT NOT NULL,
            held_by TEXT,
            saved_at TEXT NOT NULL,
            PRIMARY KEY (task_id, attempt)
        )""",
    ),
    4: (
        """CREATE TABLE plan_reviews (
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('approve', 'revise', 'reject', 'expired')),
            plan TEXT,
            decided_at TEXT NOT NULL,
            PRIMARY KEY (task_id, attempt)
        )""",
    ),
    5: _files.MIGRATION,
    6: (
        "ALTER TABLE attempts ADD COLUMN batch INTEGER",
        "CREATE TABLE layout (legacy_until TEXT)",
        """INSERT INTO layout (legacy_until) SELECT datetime('now') WHERE EXISTS (SELECT 1 FROM attempts)
               OR EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM checkpoints)
               OR EXISTS (SELECT 1 FROM task_files) OR EXISTS (SELECT 1 FROM finishing_outcomes)
               OR EXISTS (SELECT 1 FROM plan_reviews)""",
        _lease.TABLE,  # for the runs of tasks that still write here
    ),
}

# A task's own file: the v3 tables of a run, without the foreign keys to the tasks table (which is
# in the shared file), its checkpoints' states compressed (`_checkpoints`). `PRAGMA user_version`
# is its version, set in the transaction that creates it, so a file left empty by a crash reads as
# no file at all.
TASK_FILE_VERSION = 1
TASK_FILE_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE attempts (
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        usage_json TEXT,
        error TEXT,
        progress_json TEXT,
        batch INTEGER,
        PRIMARY KEY (task_id, attempt)
    )""",
    # The stream position is the rowid, and the only key: a batch of messages touches the table's
    # last page alone (on a share, every page a transaction changes costs four file calls); a task's
    # few hundred messages are scanned for a seq (`insert_messages`).
    """CREATE TABLE messages (
        position INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        type TEXT NOT NULL,
        content TEXT NOT NULL
    )""",
    _MIGRATIONS[3][-1],  # checkpoints
    _MIGRATIONS[4][0],  # plan_reviews
    *_files.MIGRATION,  # task_files, finishing_outcomes
    _lease.TABLE,
    f"PRAGMA user_version = {TASK_FILE_VERSION}",
)


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def schema_state(conn: sqlite3.Connection) -> tuple[int, datetime | None]:
    """The shared file's schema version, and (from v6) until when it was written with transcripts in it."""
    version = schema_version(conn)
    if version < 6:
        return version, None
    row = conn.execute("SELECT MAX(legacy_until) FROM layout").fetchone()
    return version, None if row[0] is None else as_utc(datetime.fromisoformat(row[0]))


def task_file_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def create_task_file(conn: sqlite3.Connection) -> None:
    """Make an empty task file's tables (in the caller's write transaction); a newer one is refused."""
    version = task_file_version(conn)
    if version > TASK_FILE_VERSION:
        raise StoreError(f"task file schema v{version} is newer than this code (v{TASK_FILE_VERSION})")
    if version == 0:
        for statement in TASK_FILE_SCHEMA:
            conn.execute(statement)


def migrate(conn: sqlite3.Connection) -> tuple[int, datetime | None]:
    """Bring the schema up to date; run with foreign keys off (a table rebuild drops a parent table).
    The state after (`schema_state`)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(f"task database schema v{current} is newer than this code (v{SCHEMA_VERSION})")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(f"migrating the task database to v{version} broke {len(broken)} references")
        conn.execute("DELETE FROM schema_version")  # one row: the version the file is at
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    if current < SCHEMA_VERSION:
        logger.info("task database migrated to schema v%d (from v%d)", SCHEMA_VERSION, current)
    return schema_state(conn)


def integrity_check(conn: sqlite3.Connection) -> str:
    """SQLite's `PRAGMA integrity_check`: "ok", or what it found wrong."""
    return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
