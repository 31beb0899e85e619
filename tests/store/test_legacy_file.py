"""A schema v5 mirror (every task's transcript in the one shared file) meets the per-task layout:
migrated to v6 on first open without touching a row, its tasks read in place, its tasks in flight
go on writing in place, and tasks created after the upgrade get files of their own."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TaskProgress
from magentic_tasks.store import SCHEMA_VERSION, TaskStore
from magentic_tasks.store._schema import _MIGRATIONS

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
TABLES = ("tasks", "attempts", "messages", "checkpoints", "task_files")


def task(task_id: str, created_at: datetime = T0) -> TaskInput:
    return TaskInput(task_id=task_id, prompt="p", use_aoai=False, model_name="gpt-4o", owner="alice",
                     created_at=created_at)


def v5_schema(conn: sqlite3.Connection) -> None:
    """The tables as schema v5 made them."""
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version in (1, 2, 3, 4, 5):
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (5)")


def v5_file(path: Path) -> None:
    """A file as schema v5 left it: `done` finished (a failed attempt, then the final one; an output
    file kept), `paused` between two slices (its checkpoint released), `crashed` with its checkpoint
    still held by a run that died."""
    conn = sqlite3.connect(path)
    v5_schema(conn)
    conn.execute("INSERT INTO task_files VALUES ('done', 'output', 'out.txt', 3, 'abc', 'text/plain', 'done/out.txt')")
    at = T0.isoformat()
    outcome = json.dumps({"status": "completed", "final_answer": "42", "finished_at": at, "attempts": 2})
    for task_id, status, outcome_json, final in (("done", "completed", outcome, 2), ("paused", "running", None, None),
                                                 ("crashed", "running", None, None)):
        conn.execute("INSERT INTO tasks VALUES (?, ?, 'p', 0, 'gpt-4o', 'alice', ?, ?, NULL, ?, ?)",
                     (task_id, status, at, at, outcome_json, final))
    attempts = [("done", 1, at, '{"Coder": {"prompt_tokens": 5, "completion_tokens": 1}}', "boom"),
                ("done", 2, at, '{"Coder": {"prompt_tokens": 7, "completion_tokens": 2}}', None),
                ("paused", 1, None, None, None), ("crashed", 1, None, None, None)]
    for task_id, attempt, finished, usage, error in attempts:
        progress = TaskProgress(attempt=attempt, rounds=1, last_speaker="Coder", messages=3, prompt_tokens=1,
                                completion_tokens=1).model_dump_json()
        conn.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (task_id, attempt, at, finished, usage, error, progress))
    position: dict[str, int] = {}
    for task_id, attempt, count in (("done", 1, 2), ("done", 2, 3), ("paused", 1, 3), ("crashed", 1, 3)):
        for seq in range(count):
            position[task_id] = position.get(task_id, -1) + 1
            conn.execute("INSERT INTO messages VALUES (?, ?, ?, 'Coder', 'TextMessage', ?, ?)",
                         (task_id, attempt, seq, f"{task_id}-{attempt}-{seq}", position[task_id]))
    for task_id, held_by in (("paused", None), ("crashed", "a-run-that-died")):
        conn.execute("INSERT INTO checkpoints VALUES (?, 1, 1, 2, ?, '{}', 3.0, ?, ?, ?)",
                     (task_id, json.dumps({"team": task_id}), (T0 + timedelta(hours=1)).isoformat(), held_by, at))
    conn.commit()
    conn.close()


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}
    finally:
        conn.close()


def contents(page: list[tuple[int, int, MessageView]]) -> list[str]:
    return [m.content for _, _, m in page]


def test_a_v5_file_is_migrated_on_first_open_and_its_tasks_are_read_in_place(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    v5_file(db)
    before = counts(db)

    store = TaskStore(db, locking="dotfile")
    done = store.get_task("done")

    assert SCHEMA_VERSION == 6 and store.db.legacy_until is not None
    assert counts(db) == before  # migrating moved nothing and lost nothing
    assert done is not None and done.outcome is not None and done.outcome.final_answer == "42"
    assert [m.content for m in done.outcome.messages] == ["done-2-0", "done-2-1", "done-2-2"]
    page, complete = store.stream_page("done", 0, 10)
    assert contents(page) == ["done-1-0", "done-1-1"] and not complete  # attempt 1's run, then attempt 2's
    assert contents(store.stream_page("done", 2, 10)[0]) == ["done-2-0", "done-2-1", "done-2-2"]
    assert store.attempt_usage("done")[1]["Coder"].prompt_tokens == 5
    assert [(r.kind, r.name, r.size) for r in store.file_rows("done")] == [("output", "out.txt", 3)]
    progress = store.task_progress("paused")
    assert progress is not None and progress.messages == 3
    assert list((tmp_path / "tasks").glob("*/*")) == []  # reading made no file of its own for any of them


def test_tasks_in_flight_at_the_upgrade_go_on_in_the_shared_file_and_new_tasks_get_their_own(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    v5_file(db)
    store = TaskStore(db)

    # The next slice of the paused task claims its checkpoint and continues its attempt, in place.
    claimed = store.claim_checkpoint("paused", 1, 1, "next-slice")
    assert claimed is not None and claimed.state == {"team": "paused"}
    store.append_messages("paused", 1, 3, [MessageView(source="Coder", content="paused-1-3", type="TextMessage")])
    held = store.save_outcome(task("paused"), RunOutcome(status="completed", finished_at=T0), 1)
    assert [m.content for m in held.messages] == ["paused-1-0", "paused-1-1", "paused-1-2", "paused-1-3"]
    # The crashed task's retry resumes from its checkpoint into a new attempt, in place too.
    attempt, latest, history = store.start_attempt(task("crashed"), T0)
    assert (attempt, latest is not None, [m.content for m in history]) == (2, True, ["crashed-1-0", "crashed-1-1"])
    assert contents(store.stream_page("crashed", 3, 10)[0]) == ["crashed-1-0", "crashed-1-1"]
    # A task created after the upgrade: a file of its own, nothing in the shared file's transcript tables.
    fresh = task("fresh", created_at=datetime.now(UTC))
    assert store.begin_first_attempt(fresh, T0) == 1
    store.append_messages("fresh", 1, 0, [MessageView(source="Coder", content="fresh-1-0", type="TextMessage")])

    assert counts(db) == {"tasks": 3, "attempts": 5, "messages": 11 + 1 + 2, "checkpoints": 1, "task_files": 1}
    owned = sorted(p.name.split("-")[0] for p in (tmp_path / "tasks").glob("*/*.db"))
    assert owned == ["fresh"]  # the tasks of before the upgrade have none, not even an empty one
    assert contents(store.stream_page("fresh", 0, 10)[0]) == ["fresh-1-0"]

    assert store.delete_task("done") is True  # a task of before the upgrade: its rows in the shared file go
    assert counts(db) == {"tasks": 2, "attempts": 3, "messages": 9, "checkpoints": 1, "task_files": 0}
    assert store.integrity_check() == "ok"


def test_a_file_without_transcripts_is_not_asked_about_them(tmp_path: Path) -> None:
    """A v5 file that held no transcript rows (or a new one): no task is looked for in it."""
    db = tmp_path / "tasks.db"
    conn = sqlite3.connect(db)
    v5_schema(conn)
    conn.commit()
    conn.close()

    store = TaskStore(db)
    assert store.begin_first_attempt(task("t"), T0) == 1
    assert store.db.legacy_until is None
