"""The SQLite mirror of every task: lifecycle, streamed transcript, attempts and results.

Built for a file on an SMB mount (Azure Files) as much as for a local disk:

- `journal_mode=DELETE`, never WAL (WAL needs shared memory, which network filesystems lack);
- a busy timeout, short `BEGIN IMMEDIATE` transactions and bounded retries on "database is locked";
- optional `unix-dotfile` locking (`SQLITE_LOCKING=dotfile`) for mounts without working byte-range
  locks; every connection to one file must then use it;
- every write is idempotent and keyed by task id (and attempt), so a re-delivered activity cannot
  duplicate rows.

Calls block; async code runs them with `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from .clock import as_utc, iso
from .errors import StoreError
from .schemas import MessageView, RunOutcome, TaskInput, TaskSnapshot, TaskStatus, TokenUsage
from .settings import Settings, SqliteLocking

logger = logging.getLogger(__name__)

T = TypeVar("T")

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

_LOCKED_MARKERS = ("database is locked", "database is busy", "database table is locked")


def _is_lock_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


class TaskStore:
    """One SQLite file; a short-lived connection per operation, safe from any thread or process."""

    def __init__(
        self,
        path: Path | str,
        *,
        locking: SqliteLocking = "default",
        busy_timeout_ms: int = 5000,
        lock_retries: int = 5,
        stale_lock_seconds: float = 60.0,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.locking = locking
        self.busy_timeout_ms = busy_timeout_ms
        self.lock_retries = lock_retries
        self.stale_lock_seconds = stale_lock_seconds
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskStore:
        """The process's store for these settings: one per file, so the schema is checked once."""
        return _shared_store(
            str(Path(settings.tasks_db_path).expanduser().resolve()),
            settings.sqlite_locking,
            settings.sqlite_busy_timeout_ms,
        )

    # ---- connections and transactions -------------------------------------------------------

    def _uri(self) -> str:
        uri = f"file:{quote(str(self.path))}"
        return f"{uri}?vfs=unix-dotfile" if self.locking == "dotfile" else uri

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._uri(),
            uri=True,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    def _run(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run `work` in one transaction, retrying a bounded number of times while the file is locked."""
        self._ensure_schema()
        return self._with_retries(work, write=write)

    def _with_retries(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        delay = 0.05
        for attempt in range(self.lock_retries + 1):
            try:
                with self._connection() as conn:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = work(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
            except sqlite3.OperationalError as error:
                if not _is_lock_error(error) or attempt == self.lock_retries:
                    raise StoreError(f"task database {self.path.name}: {error}") from error
                self._break_stale_dotfile_lock()
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
            except sqlite3.DatabaseError as error:
                raise StoreError(f"task database {self.path.name}: {error}") from error
            except OSError as error:
                raise StoreError(f"task database {self.path.name}: {error.strerror or error}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _break_stale_dotfile_lock(self) -> None:
        """Remove a dot-file lock left by a process that died holding it.

        The `unix-dotfile` VFS locks by creating the directory `<db>.lock`; a Function instance
        killed mid-transaction leaves it behind, and every later connection would see "locked"
        for ever. No transaction here lasts anywhere near `stale_lock_seconds`."""
        if self.locking != "dotfile":
            return
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            age = time.time() - lock.stat().st_mtime
            if age > self.stale_lock_seconds:
                lock.rmdir()
                logger.warning("removed a stale SQLite lock %s (%.0f s old)", lock, age)
        except OSError:
            pass  # no lock, or another process removed it first

    def _ensure_schema(self) -> None:
        """Create or migrate the schema once per store; a current schema costs one read."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                if self._with_retries(_schema_version, write=False) != SCHEMA_VERSION:
                    self._with_retries(_migrate, write=True)
                self._schema_ready = True

    # ---- tasks ------------------------------------------------------------------------------

    def create_task(self, task: TaskInput) -> bool:
        """Insert the task as pending; False when a task with this id already exists."""

        def work(conn: sqlite3.Connection) -> bool:
            return _insert_pending(conn, task)

        return self._run(work, write=True)

    def task_exists(self, task_id: str) -> bool:
        return self._run(
            lambda conn: conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            is not None,
            write=False,
        )

    def get_task(self, task_id: str) -> TaskSnapshot | None:
        """The task with its outcome (transcript included) when it has finished."""

        def work(conn: sqlite3.Connection) -> TaskSnapshot | None:
            row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            outcome = None
            if row["outcome_json"] is not None:
                outcome = RunOutcome.model_validate_json(row["outcome_json"])
                outcome.messages = _messages(conn, task_id, row["final_attempt"])
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

        return self._run(work, write=False)

    def set_status(self, task_id: str, status: TaskStatus, at: datetime) -> bool:
        """Move an unfinished task forward; a finished task is never changed by this."""

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                """UPDATE tasks SET status = ?, updated_at = ?
                   WHERE task_id = ? AND status NOT IN ('completed', 'failed')""",
                (status, iso(at), task_id),
            )
            return cursor.rowcount == 1

        return self._run(work, write=True)

    # ---- attempts and the streamed transcript -----------------------------------------------

    def begin_attempt(self, task: TaskInput, at: datetime) -> int:
        """Record a new run of the team (creating the task row if it is missing); its number."""

        def work(conn: sqlite3.Connection) -> int:
            _insert_pending(conn, task)
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM attempts WHERE task_id = ?", (task.task_id,)
            ).fetchone()
            attempt = int(last) + 1
            conn.execute(
                "INSERT INTO attempts (task_id, attempt, started_at) VALUES (?, ?, ?)",
                (task.task_id, attempt, iso(at)),
            )
            conn.execute(
                """UPDATE tasks SET status = 'running', updated_at = ?
                   WHERE task_id = ? AND status NOT IN ('completed', 'failed')""",
                (iso(at), task.task_id),
            )
            return attempt

        return self._run(work, write=True)

    def append_messages(self, task_id: str, attempt: int, first_seq: int, messages: Sequence[MessageView]) -> None:
        """Store transcript entries `first_seq`, `first_seq + 1`, ...; entries already stored stay as they are."""
        rows = [
            (task_id, attempt, first_seq + offset, m.source, m.type, m.content)
            for offset, m in enumerate(messages)
        ]

        def work(conn: sqlite3.Connection) -> None:
            _insert_messages(conn, rows)

        if rows:
            self._run(work, write=True)

    def finish_attempt(
        self, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
    ) -> None:
        usage_json = json.dumps({agent: u.model_dump() for agent, u in usage.items()})

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                """UPDATE attempts SET finished_at = ?, usage_json = ?, error = ?
                   WHERE task_id = ? AND attempt = ?""",
                (iso(at), usage_json, error, task_id, attempt),
            )

        self._run(work, write=True)

    def attempt_usage(self, task_id: str) -> dict[int, dict[str, TokenUsage]]:
        """Token usage recorded by each finished attempt, by attempt number and agent."""

        def work(conn: sqlite3.Connection) -> dict[int, dict[str, TokenUsage]]:
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

        return self._run(work, write=False)

    def messages(self, task_id: str, attempt: int) -> list[MessageView]:
        return self._run(lambda conn: _messages(conn, task_id, attempt), write=False)

    def last_attempt(self, task_id: str) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            (last,) = conn.execute("SELECT MAX(attempt) FROM attempts WHERE task_id = ?", (task_id,)).fetchone()
            return None if last is None else int(last)

        return self._run(work, write=False)

    # ---- results ----------------------------------------------------------------------------

    def save_outcome(self, task: TaskInput, outcome: RunOutcome, attempt: int | None) -> bool:
        """Record the task's final state. The transcript of `attempt` is kept where it was streamed;
        where it is missing (a result copied back from Durable state) the outcome's own is stored."""
        attempt = attempt or 0
        stored = outcome.model_copy(update={"messages": []})

        def work(conn: sqlite3.Connection) -> None:
            _insert_pending(conn, task)
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE task_id = ? AND attempt = ?", (task.task_id, attempt)
            ).fetchone()
            if count < len(outcome.messages):
                _insert_messages(
                    conn, [(task.task_id, attempt, seq, m.source, m.type, m.content)
                           for seq, m in enumerate(outcome.messages)]
                )
            conn.execute(
                """UPDATE tasks SET status = ?, updated_at = ?, error = ?, outcome_json = ?, final_attempt = ?
                   WHERE task_id = ?""",
                (
                    outcome.status,
                    iso(outcome.finished_at),
                    outcome.error,
                    stored.model_dump_json(),
                    attempt,
                    task.task_id,
                ),
            )

        self._run(work, write=True)
        return True

    def integrity_check(self) -> str:
        return self._run(lambda conn: str(conn.execute("PRAGMA integrity_check").fetchone()[0]), write=False)


async def best_effort(operation: Callable[..., T], *args: Any) -> T | None:
    """Run a store operation off the event loop. The mirror never stops a task: a store failure
    (after the store's own retries) is logged and comes back as None."""
    try:
        return await asyncio.to_thread(operation, *args)
    except StoreError as error:
        logger.warning("task mirror unavailable (%s): %s", getattr(operation, "__name__", operation), error)
        return None


@lru_cache(maxsize=16)
def _shared_store(path: str, locking: SqliteLocking, busy_timeout_ms: int) -> TaskStore:
    return TaskStore(path, locking=locking, busy_timeout_ms=busy_timeout_ms)


def _insert_pending(conn: sqlite3.Connection, task: TaskInput) -> bool:
    """Insert the task as pending unless it exists; whether it was inserted."""
    cursor = conn.execute(
        """INSERT OR IGNORE INTO tasks
           (task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at)
           VALUES (?, 'pending', ?, ?, ?, ?, ?, ?)""",
        (task.task_id, task.prompt, int(task.use_aoai), task.model_name, task.owner,
         iso(task.created_at), iso(task.created_at)),
    )
    return cursor.rowcount == 1


def _insert_messages(conn: sqlite3.Connection, rows: Sequence[tuple[str, int, int, str, str, str]]) -> None:
    """Transcript rows (task_id, attempt, seq, source, type, content); a stored seq is kept as it is."""
    conn.executemany(
        """INSERT OR IGNORE INTO messages (task_id, attempt, seq, source, type, content)
           VALUES (?, ?, ?, ?, ?, ?)""",
        rows,
    )


def _messages(conn: sqlite3.Connection, task_id: str, attempt: int | None) -> list[MessageView]:
    if attempt is None:
        return []
    rows = conn.execute(
        "SELECT source, content, type FROM messages WHERE task_id = ? AND attempt = ? ORDER BY seq",
        (task_id, attempt),
    ).fetchall()
    return [MessageView(source=row["source"], content=row["content"], type=row["type"]) for row in rows]


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = _schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(f"task database schema v{current} is newer than this code (v{SCHEMA_VERSION})")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        logger.info("task database migrated to schema v%d", version)


def parse_timestamp(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))
