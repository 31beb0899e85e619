"""Connections to the mirror's file: short transactions, bounded retries, dot-file locks, schema.

Built for a file on an SMB mount (Azure Files) as much as for a local disk:

- `journal_mode=DELETE`, never WAL (WAL needs shared memory, which network filesystems lack), set
  once per store when the schema is checked;
- a connection per transaction, doing no more file I/O than the transaction needs (the parent
  folder and the journal mode are settled once per store: on a share each is a round trip);
- a busy timeout, short `BEGIN IMMEDIATE` transactions and bounded retries on "database is locked";
- optional `unix-dotfile` locking (`SQLITE_LOCKING=dotfile`) for mounts without working byte-range
  locks; every connection to one file must then use it.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from ..errors import StoreError
from ..settings import SqliteLocking
from ._schema import SCHEMA_VERSION, migrate, schema_version

logger = logging.getLogger(__name__)

T = TypeVar("T")

_LOCKED_MARKERS = ("database is locked", "database is busy", "database table is locked")


def _is_lock_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


class Database:
    """One SQLite file, safe from any thread or process: `read(fn)` and `write(fn)` run `fn` in one
    transaction on a short-lived connection, once the schema is checked. A locked file may make `fn`
    run again (after a rollback), so it touches nothing but the connection."""

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

    def _uri(self) -> str:
        uri = f"file:{quote(str(self.path))}"
        return f"{uri}?vfs=unix-dotfile" if self.locking == "dotfile" else uri

    @contextmanager
    def _connection(self, *, foreign_keys: bool = True, settle_journal: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction. `settle_journal` (once per store, with the schema check)
        puts the file in the DELETE journal mode: the mode belongs to the file, and on a share every
        statement that locks costs round trips, so ordinary connections do not repeat it."""
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
            if settle_journal:
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            yield conn
        finally:
            conn.close()

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn`'s result, run in one read transaction (`BEGIN`), retried while the file is locked."""
        self._ensure_schema()
        return self._with_retries(fn, write=False)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn`'s result, run in one write transaction (`BEGIN IMMEDIATE`), retried while the file is
        locked; `fn` raising rolls it back."""
        self._ensure_schema()
        return self._with_retries(fn, write=True)

    def _with_retries(
        self, work: Callable[[sqlite3.Connection], T], *, write: bool, foreign_keys: bool = True,
        settle_journal: bool = False,
    ) -> T:
        delay = 0.05
        for attempt in range(self.lock_retries + 1):
            try:
                with self._connection(foreign_keys=foreign_keys, settle_journal=settle_journal) as conn:
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
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise StoreError(f"task database {self.path.name}: {error.strerror or error}") from error
                if self._with_retries(schema_version, write=False, settle_journal=True) != SCHEMA_VERSION:
                    # Foreign keys off for the connection (a transaction cannot switch them): a
                    # migration may rebuild a table others reference; it checks them before commit.
                    self._with_retries(migrate, write=True, foreign_keys=False)
                self._schema_ready = True
