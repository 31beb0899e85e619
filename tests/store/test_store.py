"""`TaskStore` on real SQLite files: schema, lifecycle, idempotency, transcripts and locking."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from magentic_tasks.errors import StoreError
from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage
from magentic_tasks.settings import SqliteLocking
from magentic_tasks.store import SCHEMA_VERSION, TaskStore

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
MODES: tuple[SqliteLocking, ...] = ("default", "dotfile")

# Holds `BEGIN EXCLUSIVE` on the file from another process until it reads a line (or a delay passes).
LOCK_HOLDER = """
import select, sqlite3, sys
uri, release_after = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(uri, uri=True, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
select.select([sys.stdin], [], [], release_after if release_after > 0 else None)
conn.execute("COMMIT")
conn.close()
print("released", flush=True)
"""


def make_task(task_id: str = "task-1", created_at: datetime = T0) -> TaskInput:
    return TaskInput(task_id=task_id, prompt=f"prompt of {task_id}", use_aoai=False, model_name="gpt-4o",
                     created_at=created_at)


def views(n: int, prefix: str = "m") -> list[MessageView]:
    return [MessageView(source="Orchestrator", content=f"{prefix}{i}", type="TextMessage") for i in range(n)]


def outcome(status: str = "completed", messages: list[MessageView] | None = None, **extra: object) -> RunOutcome:
    return RunOutcome.model_validate(
        {"status": status, "messages": messages or [], "final_answer": "42", "finished_at": T0 + timedelta(minutes=5),
         **extra}
    )


def rows(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Query the file with a plain connection of its own (default locking, the store is idle)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(path: Path, table: str) -> int:
    """Rows of `table` in the shared file and (for a run's tables) in every task's own file."""
    total = 0
    for file in (path, *sorted((path.parent / "tasks").glob("*/*.db"))):
        if rows(file, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table):
            (value,) = rows(file, f"SELECT COUNT(*) FROM {table}")[0]
            assert isinstance(value, int)
            total += value
    return total


def uri(path: Path, locking: SqliteLocking) -> str:
    return f"file:{path}?vfs=unix-dotfile" if locking == "dotfile" else f"file:{path}"


@pytest.fixture(params=MODES)
def locking(request: pytest.FixtureRequest) -> SqliteLocking:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "mirror" / "tasks.db"


@pytest.fixture
def store(db: Path, locking: SqliteLocking) -> TaskStore:
    return TaskStore(db, locking=locking, busy_timeout_ms=2000)


@contextmanager
def lock_held_by_other_process(path: Path, locking: SqliteLocking, release_after: float = 0) -> Iterator[
    subprocess.Popen[str]
]:
    """Another process holds an exclusive transaction on `path` until stdin gets a line (or `release_after`)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, uri(path, locking), str(release_after)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            assert holder.stdin is not None
            holder.stdin.write("go\n")
            holder.stdin.close()
        holder.wait(timeout=10)


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    holder.wait(timeout=10)


# ---- schema and connection settings -------------------------------------------------------------


def test_first_use_creates_the_schema_and_its_directory(store: TaskStore, db: Path) -> None:
    assert not db.parent.exists()
    assert store.task_exists("nope") is False

    assert rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)] == [(6,)]
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "tasks", "attempts", "messages"} <= tables


def test_a_second_store_on_the_same_file_does_not_migrate_again(
    db: Path, locking: SqliteLocking, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="magentic_tasks.store")
    TaskStore(db, locking=locking).create_task(make_task())
    assert sum("migrated" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()

    again = TaskStore(db, locking=locking)
    assert again.task_exists("task-1")
    assert again.create_task(make_task("task-2"))

    assert not any("migrated" in r.getMessage() for r in caplog.records)
    assert rows(db, "SELECT version FROM schema_version") == [(6,)]
    assert count(db, "tasks") == 2


def test_connections_use_the_delete_journal_and_the_busy_timeout(db: Path, locking: SqliteLocking) -> None:
    store = TaskStore(db, locking=locking, busy_timeout_ms=1234)
    store.create_task(make_task())
    settings = store.db.read(lambda conn: (conn.execute("PRAGMA journal_mode").fetchone()[0],
                                            conn.execute("PRAGMA busy_timeout").fetchone()[0]))
    assert settings == ("delete", 1234)
    assert rows(db, "PRAGMA journal_mode") == [("delete",)]
    assert not db.with_name("tasks.db-wal").exists()


def test_a_file_left_in_wal_mode_is_switched_back_to_delete(db: Path) -> None:
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    conn.close()

    TaskStore(db).create_task(make_task())

    assert rows(db, "PRAGMA journal_mode") == [("delete",)]
    assert not db.with_name("tasks.db-wal").exists()


def test_dotfile_locking_cannot_open_a_wal_file_and_says_so_as_a_store_error(db: Path) -> None:
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()

    with pytest.raises(StoreError, match="unable to open"):
        TaskStore(db, locking="dotfile").create_task(make_task())


def test_a_newer_schema_in_the_file_is_refused(db: Path, locking: SqliteLocking) -> None:
    TaskStore(db, locking=locking).create_task(make_task())
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()

    newer = TaskStore(db, locking=locking)
    with pytest.raises(StoreError, match=r"schema v7 is newer than this code \(v6\)"):
        newer.get_task("task-1")
    with pytest.raises(StoreError, match="newer"):
        newer.create_task(make_task("task-2"))
    assert count(db, "tasks") == 1


# ---- unusable paths: always StoreError, never a sqlite3 or OS error -----------------------------


def test_a_directory_that_cannot_be_created_is_a_store_error(tmp_path: Path, locking: SqliteLocking) -> None:
    (tmp_path / "plain-file").write_text("not a directory")
    with pytest.raises(StoreError, match=r"tasks\.db"):
        TaskStore(tmp_path / "plain-file" / "tasks.db", locking=locking).create_task(make_task())


def test_a_path_that_cannot_be_opened_is_a_store_error(tmp_path: Path, locking: SqliteLocking) -> None:
    (tmp_path / "tasks.db").mkdir()
    with pytest.raises(StoreError, match="unable to open database file"):
        TaskStore(tmp_path / "tasks.db", locking=locking).create_task(make_task())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="permission bits do not stop root")
def test_a_read_only_directory_is_a_store_error(tmp_path: Path, locking: SqliteLocking) -> None:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        with pytest.raises(StoreError):
            TaskStore(readonly / "tasks.db", locking=locking).create_task(make_task())
    finally:
        readonly.chmod(0o755)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path, locking: SqliteLocking) -> None:
    garbage = tmp_path / "tasks.db"
    garbage.write_bytes(b"definitely not SQLite " * 500)
    with pytest.raises(StoreError, match="not a database"):
        TaskStore(garbage, locking=locking).task_exists("task-1")


# ---- tasks ----------------------------------------------------------------------------------------


def test_create_task_is_idempotent(store: TaskStore, db: Path) -> None:
    assert store.create_task(make_task()) is True
    assert store.create_task(make_task()) is False
    assert count(db, "tasks") == 1

    snapshot = store.get_task("task-1")
    assert snapshot is not None
    assert (snapshot.status, snapshot.prompt, snapshot.created_at, snapshot.outcome) == (
        "pending", "prompt of task-1", T0, None,
    )
    assert store.get_task("missing") is None
    assert store.task_exists("task-1") and not store.task_exists("missing")


def test_set_status_moves_an_unfinished_task_but_never_a_finished_one(store: TaskStore) -> None:
    task = make_task()
    store.create_task(task)
    assert store.set_status("task-1", "running", T0 + timedelta(seconds=1)) is True
    assert store.get_task("task-1").status == "running"  # type: ignore[union-attr]

    store.save_outcome(task, outcome("failed", error="boom"), None)
    assert store.set_status("task-1", "running", T0 + timedelta(hours=1)) is False
    assert store.set_status("task-1", "pending", T0 + timedelta(hours=1)) is False

    after = store.get_task("task-1")
    assert after is not None and after.status == "failed"
    assert after.updated_at == T0 + timedelta(minutes=5)
    assert store.set_status("missing", "running", T0) is False


# ---- attempts and the streamed transcript --------------------------------------------------------


def test_a_run_writes_its_own_file_and_the_shared_file_only_gets_its_row(store: TaskStore, db: Path) -> None:
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    store.append_messages("task-1", attempt, 0, views(2))

    own = store.task_file("task-1")
    assert own.parent.parent == db.parent / "tasks" and own.name.startswith("task-1-")
    assert rows(own, "SELECT task_id, attempt, seq, position FROM messages ORDER BY seq") == [
        ("task-1", 1, 0, 0), ("task-1", 1, 1, 1)]
    assert rows(db, "SELECT COUNT(*) FROM messages") == rows(db, "SELECT COUNT(*) FROM attempts") == [(0,)]
    assert store.get_task("task-1") is None  # no row until the run marks it running (in the background)

    store.mark_running(task, T0)
    assert store.get_task("task-1").status == "running"  # type: ignore[union-attr]


def test_begin_attempt_numbers_attempts_and_mark_running_creates_a_missing_task(store: TaskStore, db: Path) -> None:
    task = make_task()
    assert store.last_attempt("task-1") is None
    assert store.begin_attempt(task, T0) == 1
    store.mark_running(task, T0)
    assert store.get_task("task-1").status == "running"  # type: ignore[union-attr]
    assert store.begin_attempt(task, T0 + timedelta(seconds=1)) == 2
    assert store.begin_attempt(task, T0 + timedelta(seconds=2)) == 3

    assert store.last_attempt("task-1") == 3
    assert count(db, "tasks") == 1
    assert rows(store.task_file("task-1"), "SELECT attempt FROM attempts ORDER BY attempt") == [(1,), (2,), (3,)]


def test_mark_running_does_not_reopen_a_finished_task(store: TaskStore) -> None:
    task = make_task()
    store.save_outcome(task, outcome(), None)
    store.begin_attempt(task, T0 + timedelta(hours=1))
    store.mark_running(task, T0 + timedelta(hours=1))
    assert store.get_task("task-1").status == "completed"  # type: ignore[union-attr]


def test_append_messages_keeps_the_first_copy_of_each_seq(store: TaskStore, db: Path) -> None:
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    store.append_messages("task-1", attempt, 0, views(3))
    store.append_messages("task-1", attempt, 0, views(3, prefix="replayed"))  # the same range again
    store.append_messages("task-1", attempt, 2, views(3, prefix="x"))  # overlaps seq 2
    store.append_messages("task-1", attempt, 5, [])

    assert [m.content for m in store.messages("task-1", attempt)] == ["m0", "m1", "m2", "x1", "x2"]
    assert count(db, "messages") == 5


def test_transcript_comes_back_in_seq_order_whatever_the_write_order(store: TaskStore) -> None:
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    batch = views(9)
    for first in (6, 0, 3):
        store.append_messages("task-1", attempt, first, batch[first:first + 3])
    assert store.messages("task-1", attempt) == batch


def test_a_redelivered_activity_leaves_one_task_and_one_transcript(store: TaskStore, db: Path) -> None:
    task = make_task()
    transcript = views(4)
    usage = {"Coder": TokenUsage(prompt_tokens=1)}
    store.create_task(task)
    attempt = store.begin_attempt(task, T0)

    for _delivery in range(2):  # every write of the run arrives twice (at-least-once delivery)
        store.create_task(task)
        store.append_messages("task-1", attempt, 0, transcript[:2])
        store.append_messages("task-1", attempt, 2, transcript[2:])
        store.finish_attempt("task-1", attempt, T0, usage, None)
        store.save_outcome(task, outcome(messages=transcript), attempt)

    assert (count(db, "tasks"), count(db, "attempts"), count(db, "messages")) == (1, 1, 4)
    snapshot = store.get_task("task-1")
    assert snapshot is not None and snapshot.outcome is not None
    assert snapshot.outcome.messages == transcript
    assert store.attempt_usage("task-1") == {attempt: usage}


def test_finish_attempt_and_attempt_usage_round_trip(store: TaskStore) -> None:
    task = make_task()
    first = store.begin_attempt(task, T0)
    second = store.begin_attempt(task, T0)
    third = store.begin_attempt(task, T0)  # still running: no usage yet
    store.finish_attempt("task-1", first, T0, {"Coder": TokenUsage(prompt_tokens=10, completion_tokens=2)}, "timeout")
    store.finish_attempt("task-1", second, T0, {
        "Orchestrator": TokenUsage(prompt_tokens=5, completion_tokens=1),
        "Coder": TokenUsage(prompt_tokens=7, completion_tokens=3),
    }, None)

    assert store.attempt_usage("task-1") == {
        first: {"Coder": TokenUsage(prompt_tokens=10, completion_tokens=2)},
        second: {
            "Orchestrator": TokenUsage(prompt_tokens=5, completion_tokens=1),
            "Coder": TokenUsage(prompt_tokens=7, completion_tokens=3),
        },
    }
    assert third not in store.attempt_usage("task-1")
    assert store.attempt_usage("missing") == {}


# ---- results --------------------------------------------------------------------------------------


def test_save_outcome_returns_the_final_attempts_transcript(store: TaskStore, db: Path) -> None:
    task = make_task()
    store.create_task(task)
    failed = store.begin_attempt(task, T0)
    store.append_messages("task-1", failed, 0, views(2, prefix="lost"))
    final = store.begin_attempt(task, T0)
    transcript = views(5, prefix="final")
    store.append_messages("task-1", final, 3, transcript[3:])
    store.append_messages("task-1", final, 0, transcript[:3])

    result = outcome(messages=transcript, stop_reason="done", execution_time=1.5, prompt_tokens=3,
                     completion_tokens=4, usage_by_agent={"Coder": TokenUsage(prompt_tokens=3, completion_tokens=4)},
                     attempts=2)
    store.save_outcome(task, result, final)

    snapshot = store.get_task("task-1")
    assert snapshot is not None
    assert (snapshot.status, snapshot.updated_at) == ("completed", result.finished_at)
    assert snapshot.outcome == result
    assert count(db, "messages") == 7  # the transcript was not written a second time
    assert rows(db, "SELECT status, error, final_attempt FROM tasks") == [("completed", None, final)]
    assert rows(db, "SELECT COUNT(*) FROM messages") == [(0,)]  # all of them in the task's own file


def test_a_failed_outcome_keeps_its_error(store: TaskStore) -> None:
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    store.save_outcome(task, outcome("failed", error="model unavailable", stop_reason="error"), attempt)
    snapshot = store.get_task("task-1")
    assert snapshot is not None and snapshot.outcome is not None
    assert (snapshot.status, snapshot.outcome.error, snapshot.outcome.messages) == ("failed", "model unavailable", [])


@pytest.mark.parametrize("attempt", [None, 3])
def test_save_outcome_without_a_streamed_transcript_stores_the_outcomes_own(
    store: TaskStore, db: Path, attempt: int | None
) -> None:
    task = make_task()  # never created: a result copied back from Durable state
    transcript = views(4, prefix="durable")
    store.save_outcome(task, outcome(messages=transcript), attempt)

    snapshot = store.get_task("task-1")
    assert snapshot is not None and snapshot.outcome is not None
    assert snapshot.status == "completed" and snapshot.prompt == "prompt of task-1"
    assert snapshot.outcome.messages == transcript
    assert count(db, "messages") == 4


def test_save_outcome_completes_a_partly_streamed_transcript(store: TaskStore, db: Path) -> None:
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    transcript = views(5)
    store.append_messages("task-1", attempt, 0, transcript[:2])  # the rest was never mirrored

    store.save_outcome(task, outcome(messages=transcript), attempt)

    assert store.get_task("task-1").outcome.messages == transcript  # type: ignore[union-attr]
    assert count(db, "messages") == 5


# ---- locking against another process --------------------------------------------------------------


def test_a_lock_held_past_the_busy_timeout_is_a_store_error_after_bounded_retries(
    db: Path, locking: SqliteLocking
) -> None:
    store = TaskStore(db, locking=locking, busy_timeout_ms=200, lock_retries=2)
    store.create_task(make_task())

    with lock_held_by_other_process(db, locking) as holder:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.create_task(make_task("task-2"))
        elapsed = time.monotonic() - started
        with pytest.raises(StoreError, match="locked"):
            store.get_task("task-1")  # readers wait too
        release(holder)

    # three tries, each waiting out the busy timeout, then back-offs: bounded, not forever
    assert 3 * 0.2 * 0.9 <= elapsed < 5
    assert store.create_task(make_task("task-2")) is True
    assert store.get_task("task-1") is not None
    assert count(db, "tasks") == 2


def test_a_write_waits_for_another_process_to_let_go(db: Path, locking: SqliteLocking) -> None:
    store = TaskStore(db, locking=locking, busy_timeout_ms=5000, lock_retries=0)
    store.create_task(make_task())

    with lock_held_by_other_process(db, locking, release_after=0.5):
        started = time.monotonic()
        assert store.create_task(make_task("task-2")) is True
        assert time.monotonic() - started >= 0.3

    assert count(db, "tasks") == 2


def test_dotfile_locking_takes_a_lock_directory_next_to_the_database(db: Path) -> None:
    """SQLite's unix-dotfile VFS locks by creating the directory `<db>.lock` (mkdir is atomic)."""
    store = TaskStore(db, locking="dotfile", busy_timeout_ms=100, lock_retries=0)
    store.create_task(make_task())
    lock = db.with_name("tasks.db.lock")
    assert not lock.exists()

    with lock_held_by_other_process(db, "dotfile") as holder:
        assert lock.is_dir()
        with pytest.raises(StoreError, match="locked"):
            store.create_task(make_task("task-2"))
        release(holder)

    assert not lock.exists()
    assert store.create_task(make_task("task-2")) is True



def test_a_crashed_process_frees_a_default_lock(db: Path) -> None:
    store = TaskStore(db, busy_timeout_ms=100, lock_retries=0)
    store.create_task(make_task())
    with lock_held_by_other_process(db, "default") as holder:
        holder.kill()
        holder.wait(timeout=10)
    assert store.create_task(make_task("task-2")) is True


def test_a_crashed_process_leaves_a_stale_dotfile_lock_until_it_is_removed(db: Path) -> None:
    """Nothing releases `<db>.lock` when its holder dies: every dotfile connection sees "locked"."""
    store = TaskStore(db, locking="dotfile", busy_timeout_ms=100, lock_retries=1)
    store.create_task(make_task())
    lock = db.with_name("tasks.db.lock")
    with lock_held_by_other_process(db, "dotfile") as holder:
        holder.kill()
        holder.wait(timeout=10)

    assert lock.is_dir()
    with pytest.raises(StoreError, match="locked"):
        store.task_exists("task-1")
    lock.rmdir()
    assert store.create_task(make_task("task-2")) is True


def test_a_stale_dotfile_lock_left_by_a_crashed_process_is_broken(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock older than `stale_lock_seconds` cannot belong to a live transaction: it is removed."""
    store = TaskStore(db, locking="dotfile", busy_timeout_ms=100, lock_retries=2, stale_lock_seconds=30)
    store.create_task(make_task())
    lock = db.with_name("tasks.db.lock")
    with lock_held_by_other_process(db, "dotfile") as holder:
        holder.kill()
        holder.wait(timeout=10)
    an_hour_ago = time.time() - 3600
    os.utime(lock, (an_hour_ago, an_hour_ago))

    with caplog.at_level(logging.WARNING, logger="magentic_tasks.store"):
        assert store.create_task(make_task("task-2")) is True
    assert not lock.exists()
    assert any("stale SQLite lock" in r.getMessage() for r in caplog.records)


def test_default_locking_takes_no_lock_directory(db: Path) -> None:
    store = TaskStore(db, busy_timeout_ms=100, lock_retries=0)
    store.create_task(make_task())
    with lock_held_by_other_process(db, "default") as holder:
        with pytest.raises(StoreError, match="locked"):
            store.create_task(make_task("task-2"))
        assert not db.with_name("tasks.db.lock").exists()
        release(holder)


# ---- threads --------------------------------------------------------------------------------------


def test_concurrent_writers_in_one_process_lose_nothing(store: TaskStore, db: Path) -> None:
    threads, tasks_each, messages_each = 8, 6, 6
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(tasks_each):
                task = make_task(f"t{worker}-{n}")
                store.create_task(task)
                attempt = store.begin_attempt(task, T0)
                transcript = views(messages_each)
                for first in range(0, messages_each, 2):
                    store.append_messages(task.task_id, attempt, first, transcript[first:first + 2])
                store.finish_attempt(task.task_id, attempt, T0, {"Coder": TokenUsage(prompt_tokens=1)}, None)
                store.save_outcome(task, outcome(messages=transcript), attempt)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    assert errors == []
    total = threads * tasks_each
    assert (count(db, "tasks"), count(db, "attempts"), count(db, "messages")) == (
        total, total, total * messages_each,
    )
    assert rows(db, "SELECT DISTINCT status FROM tasks") == [("completed",)]
    assert store.integrity_check() == "ok"
