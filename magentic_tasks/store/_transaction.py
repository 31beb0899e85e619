"""One transaction on one SQLite file: opening the connection, running a batch of works in it, what
a lock looks like, and breaking a dot-file lock a dead process left."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError
from ..settings import SqliteLocking
from ._group import Work

logger = logging.getLogger(__name__)

_LOCKED_MARKERS = ("database is locked", "database is busy", "database table is locked")

Outcome = tuple[object, BaseException | None]


def is_lock_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


class Locked(Exception):
    """A work met a lock mid-transaction: the whole batch is rolled back and tried again."""


class _Failed(Exception):
    """A work alone in its transaction failed: roll the transaction back, then report its failure."""

    def __init__(self, failure: BaseException) -> None:
        super().__init__(str(failure))
        self.failure = failure


def store_error(path: Path, error: BaseException) -> StoreError:
    text = error.strerror if isinstance(error, OSError) and error.strerror else error
    return StoreError(f"task database {path.name}: {text}")


def open_connection(
    path: Path, locking: SqliteLocking, busy_timeout_ms: int, *, create: bool, foreign_keys: bool = True,
    settle_journal: bool = False,
) -> sqlite3.Connection:
    """A new connection; `create=False` opens only a file that exists. `settle_journal` (once per
    store, with the schema check) puts the file in the DELETE journal mode: the mode belongs to the
    file, so ordinary connections skip it (on a share every statement that locks costs round trips)."""
    options = ["vfs=unix-dotfile"] if locking == "dotfile" else []
    if not create:
        options.append("mode=rw")
    uri = f"file:{quote(str(path))}" + ("?" + "&".join(options) if options else "")
    conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if settle_journal:
            conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    except BaseException:
        conn.close()
        raise
    return conn


def run_works(
    conn: sqlite3.Connection, works: list[Work], write: bool, late: Callable[[bool], list[Work]],
    error_for: Callable[[BaseException], StoreError],
) -> list[Outcome]:
    """Each work's outcome, from one transaction (`BEGIN IMMEDIATE` for a write); the works `late`
    gives once the lock is held, and again before the commit, join it. Raises `Locked` (or sqlite3's
    lock error) when the file's lock got in the way: the whole batch goes again."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    works.extend(late(write))  # queued while the lock was taken (round trips, on a share)
    try:
        outcomes: list[Outcome] = []
        while len(outcomes) < len(works):
            outcomes += [_one(conn, work, alone=len(works) == 1, error_for=error_for) for work in works[len(outcomes):]]
            works.extend(late(write))  # queued while those ran (their reads are round trips too)
        conn.execute("COMMIT")
    except _Failed as failed:  # the only work failed: its transaction goes with it
        conn.execute("ROLLBACK")
        return [(None, failed.failure)]
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _one(
    conn: sqlite3.Connection, work: Work, *, alone: bool, error_for: Callable[[BaseException], StoreError]
) -> Outcome:
    """Run one work; its own failure is rolled back (to its savepoint) and kept for its caller."""
    if not alone:
        conn.execute("SAVEPOINT work")
    try:
        result = work.fn(conn)
    except sqlite3.OperationalError as error:
        if is_lock_error(error):
            raise Locked() from error
        failure: BaseException = error_for(error)
    except sqlite3.DatabaseError as error:
        failure = error_for(error)
    except Exception as error:
        failure = error
    else:
        if not alone:
            conn.execute("RELEASE work")
        return result, None
    if alone:
        raise _Failed(failure)
    conn.execute("ROLLBACK TO work")
    conn.execute("RELEASE work")
    return None, failure


def break_stale_lock(path: Path, stale_seconds: float) -> None:
    """Remove a dot-file lock left by a process that died holding it.

    The `unix-dotfile` VFS locks by creating the directory `<db>.lock`; a Function instance killed
    mid-transaction leaves it behind, and every later connection would see "locked" for ever. No
    transaction here lasts anywhere near `stale_seconds`."""
    lock = path.with_name(path.name + ".lock")
    try:
        age = time.time() - lock.stat().st_mtime
        if age > stale_seconds:
            lock.rmdir()
            logger.warning("removed a stale SQLite lock %s (%.0f s old)", lock, age)
    except OSError:
        pass  # no lock, or another process removed it first
