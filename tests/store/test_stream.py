"""Migrating a v1 file, the task-wide message stream, progress rows."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TaskProgress, TokenUsage
from magentic_tasks.store import SCHEMA_VERSION, TaskStore
from magentic_tasks.store._schema import _MIGRATIONS

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_task(task_id: str = "task-1") -> TaskInput:
    return TaskInput(task_id=task_id, prompt=f"prompt of {task_id}", use_aoai=False, model_name="gpt-4o",
                     created_at=T0)


def views(n: int, prefix: str = "m") -> list[MessageView]:
    return [MessageView(source=f"agent{i % 2}", content=f"{prefix}{i}", type="TextMessage") for i in range(n)]


def v1_file(path: Path) -> None:
    """A file as schema v1 left it: two tasks, one with two attempts, one finished with an outcome."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in _MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    for task_id, status in (("old-1", "failed"), ("old-2", "running")):
        conn.execute(
            "INSERT INTO tasks (task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at,"
            " error, outcome_json, final_attempt) VALUES (?, ?, 'p', 0, 'gpt-4o', 'alice', ?, ?, NULL, ?, ?)",
            (task_id, status, T0.isoformat(), T0.isoformat(),
             '{"status": "failed", "finished_at": "2025-01-02T03:04:05+00:00"}' if status == "failed" else None,
             2 if status == "failed" else None),
        )
    rows = [("old-1", 2, 1, "b1"), ("old-1", 1, 0, "a0"), ("old-1", 2, 0, "b0"), ("old-1", 1, 1, "a1"),
            ("old-2", 1, 0, "c0")]
    for task_id, attempt, seq, content in rows:
        conn.execute("INSERT OR IGNORE INTO attempts (task_id, attempt, started_at) VALUES (?, ?, ?)",
                     (task_id, attempt, T0.isoformat()))
        conn.execute("INSERT INTO messages VALUES (?, ?, ?, 's', 'TextMessage', ?)", (task_id, attempt, seq, content))
    conn.commit()
    conn.close()


def test_a_v1_file_is_migrated_in_place_keeping_every_row(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    v1_file(db)

    store = TaskStore(db)
    old = store.get_task("old-1")

    assert SCHEMA_VERSION == 6
    assert old is not None and old.status == "failed" and old.owner == "alice"
    assert old.outcome is not None and [m.content for m in old.outcome.messages] == ["b0", "b1"]
    page, complete = store.stream_page("old-1", 0, 10)  # attempt 1 first, in seq order
    assert [(pos, attempt, m.content) for pos, attempt, m in page] == [(0, 1, "a0"), (1, 1, "a1")] and not complete
    page, complete = store.stream_page("old-1", 2, 10)
    assert [(pos, m.content) for pos, _, m in page] == [(2, "b0"), (3, "b1")] and complete
    store.append_messages("old-2", 1, 1, views(1))  # the stream goes on after the migration
    assert [pos for pos, _, _ in store.stream_page("old-2", 0, 10)[0]] == [0, 1]
    cancelled = RunOutcome(status="cancelled", stop_reason="cancelled", error="by request", finished_at=T0)
    assert store.save_outcome(make_task("old-2"), cancelled, 1).status == "cancelled"  # the new CHECK admits it

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(6,)]
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE task_id = 'old-2'").fetchone() == (2,)  # in place
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"tasks_by_owner_created", "tasks_by_created", "messages_by_position"} <= indexes
        plan = " ".join(str(row) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks WHERE owner = 'alice' ORDER BY created_at DESC, task_id DESC"
        ))
        assert "tasks_by_owner_created" in plan and "TEMP B-TREE" not in plan
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE tasks SET status = 'paused' WHERE task_id = 'old-1'")
    finally:
        conn.close()


def test_a_failed_migration_leaves_the_v1_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "tasks.db"
    v1_file(db)
    broken = (*_MIGRATIONS[2][:-1], "CREATE INDEX broken ON no_such_table(x)")
    monkeypatch.setitem(_MIGRATIONS, 2, broken)

    with pytest.raises(Exception, match="no_such_table"):
        TaskStore(db).task_exists("old-1")

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("SELECT COUNT(*) FROM tasks").fetchone() == (2,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(messages)")]
        assert "position" not in columns  # one transaction: all of v2 or none of it
    finally:
        conn.close()


def test_stream_positions_are_dense_in_commit_order_across_attempts_and_writers(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    first, second = store.begin_attempt(task, T0), store.begin_attempt(task, T0)  # two copies at once

    def stream(attempt: int) -> None:
        for seq in range(0, 20, 2):
            store.append_messages(task.task_id, attempt, seq, views(2, prefix=f"a{attempt}-")[:2])

    writers = [threading.Thread(target=stream, args=(a,)) for a in (first, second)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    store.append_messages(task.task_id, first, 0, views(2, prefix="again"))  # re-delivered: no new position

    seen: list[tuple[int, int]] = []
    after = 0
    while True:
        page, complete = store.stream_page(task.task_id, after, 3)
        assert page and len({attempt for _, attempt, _ in page}) == 1  # a page holds one attempt
        assert [pos for pos, _, _ in page] == list(range(after, after + len(page)))
        seen += [(pos, attempt) for pos, attempt, _ in page]
        after = page[-1][0] + 1
        if complete:
            break
    assert [pos for pos, _ in seen] == list(range(40))  # 10 batches of 2 from each copy, once each
    assert sorted(a for _, a in seen) == [first] * 20 + [second] * 20
    assert store.stream_page(task.task_id, 40, 3) == ([], True)


def test_progress_is_written_with_its_messages_and_counts_every_attempts_tokens(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    assert store.task_progress(task.task_id) is None
    failed = store.begin_attempt(task, T0)
    store.append_messages(task.task_id, failed, 0, views(1), TaskProgress(
        attempt=failed, rounds=0, last_speaker="user", messages=1, prompt_tokens=5, completion_tokens=1))
    store.finish_attempt(task.task_id, failed, T0, {"Coder": TokenUsage(prompt_tokens=30, completion_tokens=3)}, "x")
    retry = store.begin_attempt(task, T0 + timedelta(seconds=1))
    assert store.attempt_open(task.task_id, T0) and not store.attempt_open(task.task_id, T0 + timedelta(seconds=2))
    assert store.task_progress(task.task_id) is None  # the new attempt has streamed nothing yet

    store.append_messages(task.task_id, retry, 0, views(3), TaskProgress(
        attempt=retry, rounds=1, last_speaker="Coder", messages=3, prompt_tokens=40, completion_tokens=4))

    assert store.task_progress(task.task_id) == TaskProgress(
        attempt=retry, rounds=1, last_speaker="Coder", messages=3, prompt_tokens=70, completion_tokens=7)


def test_a_page_ends_where_another_attempts_messages_interleave_so_following_it_skips_nothing(
    tmp_path: Path,
) -> None:
    """Two copies of the run activity streaming at once interleave their rows in the task's stream.
    A page is one attempt's run of them: following `next_after` visits every position once."""
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    first, second = store.begin_attempt(task, T0), store.begin_attempt(task, T0)
    for seq in range(3):  # positions 0, 2, 4 are the first copy's; 1, 3, 5 the second's
        store.append_messages(task.task_id, first, seq, [MessageView(source="a", content=f"a{seq}", type="T")])
        store.append_messages(task.task_id, second, seq, [MessageView(source="b", content=f"b{seq}", type="T")])

    seen: list[tuple[int, int, str]] = []
    after = 0
    for _ in range(10):
        page, complete = store.stream_page(task.task_id, after, 10)
        assert page and len({attempt for _, attempt, _ in page}) == 1
        seen += [(pos, attempt, m.content) for pos, attempt, m in page]
        after = page[-1][0] + 1  # next_after
        if complete:
            break
    assert seen == [(0, first, "a0"), (1, second, "b0"), (2, first, "a1"), (3, second, "b1"), (4, first, "a2"),
                    (5, second, "b2")]
    assert store.stream_page(task.task_id, 6, 10) == ([], True)
