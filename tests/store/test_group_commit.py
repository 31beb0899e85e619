"""Group commit: the transactions one process wants on one file at once share one transaction."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from magentic_tasks.errors import StoreError
from magentic_tasks.store import Database
from magentic_tasks.store._group import Work

WRITERS = 8


class CountingDatabase(Database):
    """Counts the transactions it commits, and names the works each carried."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, locking="dotfile")
        self.transactions: list[int] = []

    def _run_batch(self, works: list[Work], late: Callable[[bool], list[Work]]) -> None:
        super()._run_batch(works, late)
        self.transactions.append(len(works))  # with those that joined it late


def table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")


def test_writes_that_arrive_while_a_transaction_runs_its_works_join_it_before_it_commits(tmp_path: Path) -> None:
    """The works run before the commit, and on a share their reads are round trips too: what is
    queued meanwhile goes in the same transaction instead of waiting for the next."""
    db = CountingDatabase(tmp_path / "tasks.db")
    db.write(table)
    db.transactions.clear()
    first_running, go_on = threading.Event(), threading.Event()

    def first(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t VALUES (0)")
        first_running.set()
        go_on.wait(10)  # holds its transaction while the others queue
        return 0

    leader = threading.Thread(target=db.write, args=(first,))
    leader.start()
    first_running.wait(10)
    results: list[int] = []

    def insert(n: int) -> None:
        results.append(db.write(lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)).rowcount * n))

    followers = [threading.Thread(target=insert, args=(n,)) for n in range(1, WRITERS)]
    for follower in followers:
        follower.start()
    while len(db._group._queue) < WRITERS - 1:  # every follower has queued its work
        threading.Event().wait(0.01)
    go_on.set()
    for thread in (leader, *followers):
        thread.join(10)

    assert db.transactions == [WRITERS]  # the leader's, and everyone else's with it
    assert sorted(results) == list(range(1, WRITERS))
    assert db.read(lambda conn: conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == WRITERS


def test_a_work_that_fails_is_rolled_back_alone_and_its_caller_hears_why(tmp_path: Path) -> None:
    db = CountingDatabase(tmp_path / "tasks.db")
    db.write(table)
    hold, go_on = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def blocker(conn: sqlite3.Connection) -> None:
        hold.set()
        go_on.wait(10)

    def run(name: str, n: int, fail: BaseException | None) -> None:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            if fail is not None:
                raise fail
            return n

        try:
            outcomes[name] = db.write(work)
        except BaseException as error:
            outcomes[name] = error

    leader = threading.Thread(target=db.write, args=(blocker,))
    leader.start()
    hold.wait(10)
    threads = [threading.Thread(target=run, args=args) for args in (
        ("a", 1, None), ("b", 2, ValueError("a defect")), ("c", 3, sqlite3.IntegrityError("constraint")),
        ("d", 4, None))]
    for thread in threads:
        thread.start()
    while len(db._group._queue) < len(threads):
        threading.Event().wait(0.01)
    go_on.set()
    for thread in (leader, *threads):
        thread.join(10)

    assert db.transactions[-1] == 5  # one transaction: the four joined the one that ran while they queued
    assert outcomes["a"] == 1 and outcomes["d"] == 4
    assert isinstance(outcomes["b"], ValueError)  # not the store's: a defect stays what it is
    assert isinstance(outcomes["c"], StoreError) and "constraint" in str(outcomes["c"])
    stored = db.read(lambda conn: [n for (n,) in conn.execute("SELECT n FROM t ORDER BY n")])
    assert stored == [1, 4]


def test_a_lone_work_that_fails_rolls_its_transaction_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "tasks.db")
    db.write(table)

    def half(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        db.write(half)
    assert db.read(lambda conn: conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0


def test_works_queued_while_the_transaction_waits_for_the_files_lock_join_it(tmp_path: Path) -> None:
    """On a share, taking the lock costs round trips (and another instance may hold it): what is
    queued meanwhile goes in the same transaction, in the order it was submitted."""
    db = CountingDatabase(tmp_path / "tasks.db")
    db.write(table)
    db.transactions.clear()
    lock = db.path.with_name("tasks.db.lock")
    lock.mkdir()  # another instance holds the file
    first = threading.Thread(target=db.write, args=(lambda conn: conn.execute("INSERT INTO t VALUES (1)"),))
    first.start()
    while not db._group._busy:  # the first write leads, and waits for the lock
        threading.Event().wait(0.01)
    later = [db.submit(lambda conn, n=n: conn.execute("INSERT INTO t VALUES (?)", (n,))) for n in (2, 3)]
    lock.rmdir()
    first.join(10)
    for work in later:
        db.wait(work)

    assert db.transactions == [3]
    assert db.read(lambda conn: [n for (n,) in conn.execute("SELECT n FROM t ORDER BY rowid")]) == [1, 2, 3]
