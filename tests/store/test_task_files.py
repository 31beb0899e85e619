"""A file per task beside the shared one: made by the task's first write, read before it exists,
left half-made or half-written by a crash, removed with the task."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from magentic_tasks.errors import StoreError
from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TaskProgress, TokenUsage
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from magentic_tasks.store import Batch, Checkpoint, TaskStore, _transcript
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_task(task_id: str = "task-1") -> TaskInput:
    return TaskInput(task_id=task_id, prompt=f"prompt of {task_id}", use_aoai=False, model_name="gpt-4o",
                     created_at=T0)


def views(n: int, prefix: str = "m") -> list[MessageView]:
    return [MessageView(source="Coder", content=f"{prefix}{i}", type="TextMessage") for i in range(n)]


def checkpoint(task_id: str, attempt: int, round_: int, messages: int) -> Checkpoint:
    return Checkpoint(task_id=task_id, attempt=attempt, round=round_, messages=messages, state={"team": round_},
                      usage_by_agent={}, elapsed=1.0, deadline=T0 + timedelta(hours=1), saved_at=T0)


def files_of(store: TaskStore) -> list[str]:
    """Every file under the task files' root (its 256 folders are made with the schema), relative to it."""
    root = store.path.parent / "tasks"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()) if root.exists() else []


def run_to_end(store: TaskStore, task: TaskInput, messages: list[MessageView]) -> int:
    """The store calls of a run, as the activity makes them; the attempt's number."""
    attempt = store.begin_first_attempt(task, T0)
    assert attempt is not None
    store.mark_running(task, T0)
    half = len(messages) // 2
    store.write_batch(Batch(task_id=task.task_id, attempt=attempt, first_seq=0, messages=messages[:half],
                            progress=None, usage={}, checkpoint=checkpoint(task.task_id, attempt, 1, half)))
    store.write_batch(Batch(task_id=task.task_id, attempt=attempt, first_seq=half, messages=messages[half:],
                            progress=None, usage={"Coder": TokenUsage(prompt_tokens=3)}))  # it ends with its outcome
    return attempt


def test_reads_of_a_task_that_never_ran_make_no_file_and_its_first_attempt_makes_it(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db", locking="dotfile")
    task = make_task()

    assert store.stream_page(task.task_id, 0, 10) == ([], True)
    assert (store.task_progress(task.task_id), store.last_attempt(task.task_id)) == (None, None)
    assert store.latest_checkpoint(task.task_id) is None and store.attempt_usage(task.task_id) == {}
    assert files_of(store) == []

    assert store.begin_first_attempt(task, T0) == 1
    assert store.begin_first_attempt(task, T0) is None  # it has a file now: it has run (or has an outcome)
    own = store.task_file(task.task_id)
    assert own.is_file() and files_of(store) == [f"{own.parent.name}/{own.name}"]
    assert len(list((store.path.parent / "tasks").iterdir())) == 256  # made with the schema
    assert store.integrity_check(task.task_id) == "ok"


def test_ids_that_differ_only_in_case_get_files_of_their_own(tmp_path: Path) -> None:
    """An SMB share's names are case-insensitive: the file name carries a hash of the exact id."""
    store = TaskStore(tmp_path / "tasks.db")
    upper, lower = store.task_file("Task-A"), store.task_file("task-a")
    assert upper.name.lower() != lower.name.lower()


@pytest.mark.parametrize("left", ["an empty file", "a file whose first transaction rolled back"])
def test_a_file_a_crash_left_without_tables_reads_as_none_and_the_first_attempt_makes_them(
    tmp_path: Path, left: str
) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    own = store.task_file(task.task_id)
    own.parent.mkdir(parents=True)
    own.touch()
    if left != "an empty file":
        conn = sqlite3.connect(own, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE attempts (x)")
        conn.execute("ROLLBACK")  # as a hot journal does, when the next connection finds it
        conn.close()

    assert store.stream_page(task.task_id, 0, 10) == ([], True) and store.last_attempt(task.task_id) is None
    assert store.begin_first_attempt(task, T0) == 1  # still the task's first write: nothing ran before
    store.append_messages(task.task_id, 1, 0, views(2))
    assert [m.content for m in store.messages(task.task_id, 1)] == ["m0", "m1"]


def test_a_read_of_a_file_that_cannot_be_opened_is_a_store_error_not_an_empty_task(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    own = store.task_file("task-1")
    own.parent.mkdir(parents=True)
    own.write_bytes(b"not a database, but not nothing either" * 200)
    with pytest.raises(StoreError):
        store.stream_page("task-1", 0, 10)


def test_a_crash_after_the_transcript_before_the_outcome_is_repaired_without_a_second_copy(tmp_path: Path) -> None:
    """The run streamed its transcript into its own file; the outcome row was never written (the
    process died, or the shared file stayed locked). Durable state holds the result: the read
    path's and the reconcile timer's repair finds the run's own transcript."""
    store = TaskStore(tmp_path / "tasks.db")
    task, transcript = make_task(), views(4)
    attempt = run_to_end(store, task, transcript)

    result = RunOutcome(status="completed", messages=transcript, final_answer="42", finished_at=T0)
    held = store.save_outcome(task, result, None)  # as repair_mirror copies it from Durable state

    assert held.messages == transcript
    (row,) = sqlite3.connect(store.path).execute("SELECT status, final_attempt FROM tasks").fetchall()
    assert row == ("completed", attempt)  # the run's attempt, not a copy under attempt 0
    page, complete = store.stream_page(task.task_id, 0, 100)
    assert [m.content for _, _, m in page] == ["m0", "m1", "m2", "m3"] and complete


def test_a_crash_after_the_outcome_before_the_task_file_is_closed_leaves_nothing_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result copied from Durable state: transcript stored, outcome row written, then the process
    died before the task's file dropped its checkpoints. The task is final: nothing resumes it, a
    later write closes the file, and the result is whole."""
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    attempt = store.begin_first_attempt(task, T0)
    assert attempt is not None
    store.save_checkpoint(checkpoint(task.task_id, attempt, 1, 0), {})
    def died(*_: object) -> None:
        raise StoreError("the process died here")

    monkeypatch.setattr(_transcript, "end_attempts", died)  # the step the crash skips
    result = RunOutcome(status="completed", messages=views(2), final_answer="42", finished_at=T0)
    with pytest.raises(StoreError):
        store.save_outcome(task, result, None)
    monkeypatch.undo()

    assert store.begin_first_attempt(task, T0) is None  # a redelivered run asks for the outcome first
    found = store.get_task(task.task_id)
    assert found is not None and found.outcome is not None and found.outcome.messages == views(2)
    assert store.save_outcome(task, result, None).messages == views(2)  # the repair goes on: same result
    assert store.latest_checkpoint(task.task_id) is None


def test_a_crash_between_deleting_the_file_and_the_row_is_finished_by_the_next_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    run_to_end(store, task, views(2))
    store.save_outcome(task, RunOutcome(status="completed", messages=views(2), finished_at=T0), 1, True)

    def died(_: object) -> bool:
        raise StoreError("the process died here")

    monkeypatch.setattr(store.db, "write", died)
    with pytest.raises(StoreError):
        store.delete_task(task.task_id)
    monkeypatch.undo()

    assert files_of(store) == []  # the file went first
    assert store.finished_before(T0 + timedelta(days=1), 10) == [task.task_id]  # so retention finds the row
    assert store.delete_task(task.task_id) is True
    assert store.get_task(task.task_id) is None and store.finished_before(T0 + timedelta(days=1), 10) == []


async def test_retention_removes_each_old_tasks_file_and_leaves_the_others(tmp_path: Path) -> None:
    settings = Settings(TASKS_DB_PATH=str(tmp_path / "tasks.db"), TASK_RETENTION_DAYS=30,  # type: ignore[call-arg]
                        TASK_WORKSPACE_ROOT=str(tmp_path / "ws"))
    store = TaskStore(settings.tasks_db_path, locking="dotfile")
    old, new = make_task("old-task"), make_task("new-task").model_copy(update={"created_at": T0 + timedelta(days=60)})
    for task in (old, new):
        run_to_end(store, task, views(3))
        store.save_outcome(task, RunOutcome(status="completed", messages=views(3), finished_at=task.created_at),
                           1, True)
    journal = store.task_file(old.task_id).with_name(store.task_file(old.task_id).name + "-journal")
    journal.write_bytes(b"")  # a crash left one beside it
    service = TaskService(settings, InMemoryOrchestrations(), store, clock=lambda: T0 + timedelta(days=61))

    report = await service.apply_retention()

    assert report.tasks_deleted == 1
    assert not store.task_file(old.task_id).exists() and not journal.exists()
    assert store.task_file(new.task_id).exists() and store.get_task(new.task_id) is not None
    assert (await answered(service.result(new.task_id, None))).body["result"]["messages"] == [
        m.model_dump() for m in views(3)]
    assert store.get_task(old.task_id) is None and store.stream_page(old.task_id, 0, 10) == ([], True)


def test_progress_and_the_stream_come_from_the_tasks_own_file_while_the_shared_file_is_locked(tmp_path: Path) -> None:
    """A follower of a running task never waits for the file every instance shares."""
    store = TaskStore(tmp_path / "tasks.db", locking="dotfile", busy_timeout_ms=50, lock_retries=0)
    task = make_task()
    store.create_task(task)
    attempt = store.begin_first_attempt(task, T0)
    assert attempt is not None
    progress = TaskProgress(attempt=attempt, rounds=1, last_speaker="Coder", messages=2, prompt_tokens=5,
                            completion_tokens=1)
    store.append_messages(task.task_id, attempt, 0, views(2), progress)
    lock = store.path.with_name("tasks.db.lock")
    lock.mkdir()  # another instance holds the shared file
    try:
        with pytest.raises(StoreError, match="locked"):
            store.get_task(task.task_id)
        assert store.task_progress(task.task_id) == progress
        assert [m.content for _, _, m in store.stream_page(task.task_id, 0, 10)[0]] == ["m0", "m1"]
        store.append_messages(task.task_id, attempt, 2, views(1, prefix="x"))
    finally:
        lock.rmdir()
