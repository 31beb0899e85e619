"""One SQLite file: short transactions, grouped per process, bounded retries, dot-file locks, schema.

Built for a file on an SMB mount (Azure Files) as much as for a local disk, where every file call is
a network round trip:

- `journal_mode=DELETE`, never WAL (WAL needs shared memory, which network filesystems lack), set
  once per store when the schema is checked;
- the transactions one process wants at once share one (`_group`: one lock, one journal, one set of
  syncs for all of them);
- a connection is kept open between transactions while the file is `held` (the shared file always;
  a task's own file while its run writes it): no open, no schema read per transaction. It is
  dropped after an error, and when the path no longer names the file it opened (replaced, deleted);
- a busy timeout, short `BEGIN IMMEDIATE` transactions and bounded retries on "database is locked";
- optional `unix-dotfile` locking (`SQLITE_LOCKING=dotfile`) for mounts without working byte-range
  locks; every connection to one file must then use it. A lock left by a dead process is broken.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError
from ..settings import SqliteLocking
from ._group import GroupCommit, Work
from ._schema import SCHEMA_VERSION, migrate, schema_state
from ._transaction import Locked, break_stale_lock, is_lock_error, open_connection, run_works, store_error

logger = logging.getLogger(__name__)

T = TypeVar("T")

class FileMissing(StoreError):
    """A file that may not be created here (a read of a task's own file) does not exist."""


class Database:
    """One SQLite file, safe from any thread or process: `read(fn)` and `write(fn)` run `fn` in one
    transaction, once the schema is checked. A locked file may make `fn` run again (after a
    rollback), so it touches nothing but the connection.

    `schema=False`: the caller's functions keep the schema (a task's own file). `create=False`: a
    read of a missing file raises `FileMissing` instead of creating it; a write creates it and its
    folder. `keep_open`: the connection stays open between transactions (see `hold`), and with
    `watch_path` (one stat per transaction) is dropped once the path names another file or none."""

    def __init__(
        self,
        path: Path | str,
        *,
        locking: SqliteLocking = "default",
        busy_timeout_ms: int = 5000,
        lock_retries: int = 5,
        stale_lock_seconds: float = 60.0,
        schema: bool = True,
        create: bool = True,
        keep_open: bool = True,
        watch_path: bool = True,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.locking = locking
        self.busy_timeout_ms = busy_timeout_ms
        self.lock_retries = lock_retries
        self.stale_lock_seconds = stale_lock_seconds
        self.create = create
        self.legacy_until: datetime | None = None  # the shared file held transcripts until then (v3's layout)
        self.after_migration: Callable[[], None] | None = None  # called once this store has migrated the file
        self._schema_ready = not schema
        self._schema_lock = threading.Lock()
        self._group = GroupCommit(self._run_batch)
        self._conn: sqlite3.Connection | None = None
        self._conn_inode = 0
        self._conn_lock = threading.Lock()
        self._holds = 1 if keep_open else 0
        self._watch_path = watch_path

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn`'s result, run in a read transaction (`BEGIN`), retried while the file is locked."""
        self.ensure_schema()
        result: T = self._group.run(fn, write=False)
        return result

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn`'s result, run in a write transaction (`BEGIN IMMEDIATE`), retried while the file is
        locked; `fn` raising rolls back what it did."""
        self.ensure_schema()
        result: T = self._group.run(fn, write=True)
        return result

    def submit(self, fn: Callable[[sqlite3.Connection], object]) -> Work:
        """Queue `fn` for a write transaction now, without waiting (nor any file call once the schema
        is checked): works run in the order they are submitted; `wait` for its result."""
        self.ensure_schema()
        return self._group.submit(fn, write=True)

    def wait(self, work: Work) -> object:
        """A submitted work's result, once its transaction has committed (this call may run it)."""
        return self._group.wait(work)

    def hold(self) -> None:
        """Keep the connection open between transactions until as many `release` calls."""
        with self._conn_lock:
            self._holds += 1

    def release(self) -> None:
        with self._conn_lock:
            self._holds = max(self._holds - 1, 0)
            if self._holds == 0:
                self._drop()

    # ---- a batch of works in one transaction ----------------------------------------------------------

    def _run_batch(self, works: list[Work], late: Callable[[bool], list[Work]]) -> None:
        """Every work's result or error, from one committed transaction (tried again while locked);
        the works `late` gives once the transaction holds the file's lock go in it too."""
        write = any(work.write for work in works)
        delay = 0.05
        for attempt in range(self.lock_retries + 1):
            try:
                with self._conn_lock:
                    outcomes = self._transaction(works, write, late)
                for work, (result, error) in zip(works, outcomes, strict=True):
                    work.result, work.error = result, error
                return
            except (Locked, sqlite3.OperationalError) as error:
                if isinstance(error, sqlite3.OperationalError) and not is_lock_error(error):
                    raise self._store_error(error) from error
                if attempt == self.lock_retries:
                    cause = error.__cause__ if isinstance(error, Locked) else error
                    raise StoreError(f"task database {self.path.name}: {cause}") from cause
                self._break_stale_dotfile_lock()
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
            except FileMissing:
                raise
            except (sqlite3.DatabaseError, OSError) as error:
                raise self._store_error(error) from error

    def _transaction(
        self, works: list[Work], write: bool, late: Callable[[bool], list[Work]]
    ) -> list[tuple[object, BaseException | None]]:
        conn = self._connection(write)
        healthy = False  # the connection may serve the next transaction
        try:
            outcomes = run_works(conn, works, write, late, self._store_error)
            healthy = True
            return outcomes
        except (Locked, sqlite3.OperationalError) as error:
            healthy = isinstance(error, Locked) or is_lock_error(error)
            raise
        finally:
            if not healthy or self._holds == 0:
                self._drop()

    # ---- the connection ------------------------------------------------------------------------------

    def _connection(self, write: bool) -> sqlite3.Connection:
        """The open connection if the path still names its file, else a new one (creating the file
        and its folder only when allowed)."""
        if self._conn is not None:
            if not self._watch_path:
                return self._conn
            try:
                if os.stat(self.path).st_ino == self._conn_inode:
                    return self._conn
            except OSError:
                pass
            self._drop()
        create = write or self.create
        try:
            conn = self._open(create)
        except sqlite3.OperationalError as error:
            if "unable to open" not in str(error):
                raise
            if not create and not self.path.exists():
                raise FileMissing(f"task database {self.path.name} does not exist") from None
            if create:  # its folder may be missing; or another process was making it meanwhile
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._open(create)
        self._conn, self._conn_inode = conn, os.stat(self.path).st_ino
        return conn

    def _open(self, create: bool, *, foreign_keys: bool = True, settle_journal: bool = False) -> sqlite3.Connection:
        return open_connection(self.path, self.locking, self.busy_timeout_ms, create=create,
                               foreign_keys=foreign_keys, settle_journal=settle_journal)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _store_error(self, error: BaseException) -> StoreError:
        return store_error(self.path, error)

    def _break_stale_dotfile_lock(self) -> None:
        if self.locking == "dotfile":
            break_stale_lock(self.path, self.stale_lock_seconds)

    # ---- the schema (the shared file) ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create or migrate the schema once per store; a current schema costs one read."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise self._store_error(error) from error
                version, self.legacy_until = self._alone(schema_state, write=False, settle_journal=True)
                if version != SCHEMA_VERSION:
                    # Foreign keys off for the connection (a transaction cannot switch them): a
                    # migration may rebuild a table others reference; it checks them before commit.
                    _, self.legacy_until = self._alone(migrate, write=True, foreign_keys=False)
                    if version < SCHEMA_VERSION and self.after_migration is not None:
                        self.after_migration()
                self._schema_ready = True

    def _alone(
        self, work: Callable[[sqlite3.Connection], T], *, write: bool, foreign_keys: bool = True,
        settle_journal: bool = False,
    ) -> T:
        """`work` in a transaction of its own, on a connection of its own (the schema's check)."""
        delay = 0.05
        for attempt in range(self.lock_retries + 1):
            try:
                conn = self._open(True, foreign_keys=foreign_keys, settle_journal=settle_journal)
                try:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = work(conn)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                    return result
                finally:
                    conn.close()
            except sqlite3.OperationalError as error:
                if not is_lock_error(error) or attempt == self.lock_retries:
                    raise self._store_error(error) from error
                self._break_stale_dotfile_lock()
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
            except (sqlite3.DatabaseError, OSError) as error:
                raise self._store_error(error) from error
        raise AssertionError("unreachable")  # pragma: no cover
