"""Each task's own file: its attempts, message stream, progress, usage and checkpoints.

A run writes a batch every second or so, and on a file share each transaction pays round trips
and holds its file's lock. In one shared file every write of every task on every instance would
take the one lock in turn; in a file per task, a task's writes wait for no other task. The file is
`<folder of the shared file>/tasks/<xx>/<task id>-<hash>.db`: `xx` spreads tasks over 256 folders,
and the hash of the exact id keeps two ids that differ only in case apart on a case-insensitive
share.

A task run before schema v6 keeps its rows in the shared file (`Database.legacy_until`): its reads
and writes go there, found by asking the shared file once per process and task, and only for a
task that has no file of its own and was not created well after the upgrade. Reads of a task
without a file (not begun) see empty tables; only writes create the file, with its tables, in
their own transaction (`create_task_file`), so a file is never seen half made.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError
from ._connection import Database, FileMissing
from ._schema import LEGACY_MARGIN, TASK_FILE_SCHEMA, create_task_file, task_file_version

T = TypeVar("T")

logger = logging.getLogger(__name__)

_KNOWN = 4096  # tasks whose file this process remembers (the objects hold no file open)


class _NoFile(Exception):
    """The task's file has no tables yet."""


class NotFresh(Exception):
    """The task has a file already (or rows in the shared file): it has run, or has an outcome."""


class TaskFiles:
    """The per-task files beside `shared`, opened with its locking, timeouts and retries."""

    def __init__(self, shared: Database) -> None:
        self.shared = shared
        self.root = shared.path.parent / "tasks"
        self._lock = threading.RLock()
        self._databases: OrderedDict[str, Database] = OrderedDict()
        self._held: dict[str, tuple[Database, int]] = {}
        self._in_shared: dict[str, bool] = {}  # legacy tasks (True) and tasks known to have none (False)

    def make_folders(self) -> None:
        """Make the 256 folders at once (with the schema): on a share, making a folder holds its
        parent's lock for a round trip, and tasks starting together would queue on `tasks/`."""
        try:
            for shard in range(256):
                (self.root / f"{shard:02x}").mkdir(parents=True, exist_ok=True)
        except OSError as error:  # each is made with its first task's file otherwise
            logger.warning("task files' folders not made: %s", error)

    def path(self, task_id: str) -> Path:
        digest = hashlib.sha256(task_id.encode()).hexdigest()
        return self.root / digest[:2] / f"{task_id}-{digest[:8]}.db"

    def read(self, task_id: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` over the task's tables: its own file's, the shared file's for a task run before v6,
        or empty ones for a task that has written nothing yet."""
        if not self._in_shared.get(task_id, False):
            try:
                return self._database(task_id).read(lambda conn: _with_tables(conn, fn))
            except (FileMissing, _NoFile):
                pass
            if not self._legacy_possible(task_id, None):
                return _on_empty_tables(fn)
        return self.shared.read(fn)

    def write(
        self, task_id: str, fn: Callable[[sqlite3.Connection], T], created_at: datetime | None = None, *,
        fresh: bool = False,
    ) -> T:
        """`fn` in a write transaction on the task's tables, making its file first if need be;
        `fresh`: only in the transaction that makes the file, else `NotFresh`."""
        in_shared = self._in_shared.get(task_id)
        if in_shared is None and self._legacy_possible(task_id, created_at):
            try:
                if not self.path(task_id).exists():
                    raise _NoFile()
                result = self._database(task_id).write(lambda conn: _with_tables(conn, fn, fresh=fresh))
            except _NoFile:  # a task run before v6, or one about to write its first row
                in_shared = self.shared.read(lambda conn: _has_rows(conn, task_id))
                self._in_shared[task_id] = in_shared
            else:
                self._in_shared[task_id] = False
                return result
        if in_shared:
            if fresh:
                raise NotFresh()
            return self.shared.write(fn)
        return self._database(task_id).write(lambda conn: _with_tables(conn, fn, create=True, fresh=fresh))

    def hold(self, task_id: str) -> None:
        """Keep the task's file open between transactions (while its run writes it) until `release`."""
        with self._lock:
            database, holds = self._held.get(task_id) or (self._database(task_id), 0)
            self._held[task_id] = (database, holds + 1)
        database.hold()

    def release(self, task_id: str) -> None:
        with self._lock:
            held = self._held.pop(task_id, None)
            if held is not None and held[1] > 1:
                self._held[task_id] = (held[0], held[1] - 1)
        if held is not None:
            held[0].release()

    def remove(self, task_id: str) -> None:
        """Delete the task's file, a journal a crash left beside it and a lock it left; raises if one stays."""
        path = self.path(task_id)
        with self._lock:
            self._databases.pop(task_id, None)
            self._in_shared.pop(task_id, None)
        try:
            for leftover in (path, path.with_name(path.name + "-journal")):
                leftover.unlink(missing_ok=True)
            shutil.rmtree(path.with_name(path.name + ".lock"), ignore_errors=True)
        except OSError as error:
            raise StoreError(f"task file {path.name}: {error.strerror or error}") from error

    def _database(self, task_id: str) -> Database:
        with self._lock:
            held = self._held.get(task_id)
            if held is not None:
                return held[0]
            database = self._databases.pop(task_id, None) or Database(
                self.path(task_id), locking=self.shared.locking, busy_timeout_ms=self.shared.busy_timeout_ms,
                lock_retries=self.shared.lock_retries, stale_lock_seconds=self.shared.stale_lock_seconds,
                schema=False, create=False, keep_open=False, watch_path=False,
            )
            self._databases[task_id] = database
            while len(self._databases) > _KNOWN:
                self._databases.popitem(last=False)
            return database

    def _legacy_possible(self, task_id: str, created_at: datetime | None) -> bool:
        """Whether the task may have rows in the shared file (it cannot once it has a file of its own)."""
        if self._in_shared.get(task_id) is not None:
            return bool(self._in_shared[task_id])
        self.shared.ensure_schema()
        until = self.shared.legacy_until
        return until is not None and (created_at is None or created_at <= until + LEGACY_MARGIN)


def _with_tables(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, create: bool = False, fresh: bool = False
) -> T:
    if task_file_version(conn) == 0:
        if not create:
            raise _NoFile()
        create_task_file(conn)
    elif fresh:
        raise NotFresh()
    return fn(conn)


def _has_rows(conn: sqlite3.Connection, task_id: str) -> bool:
    """Whether the shared file holds any of the task's transcript rows (written before v6)."""
    return any(
        conn.execute(f"SELECT 1 FROM {table} WHERE task_id = ? LIMIT 1", (task_id,)).fetchone() is not None
        for table in ("attempts", "messages", "checkpoints", "plan_reviews", "task_files", "finishing_outcomes")
    )


def _on_empty_tables(fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn` over a task file's tables with nothing in them (in memory)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.row_factory = sqlite3.Row
        for statement in TASK_FILE_SCHEMA:
            conn.execute(statement)
        return fn(conn)
    finally:
        conn.close()
