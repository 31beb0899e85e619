"""The lease of a task's live run, in the task's own file: one holder at a time, renewed by its
holder alone, free again when let go or when its holder stops renewing it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from magentic_tasks.schemas import TaskInput
from magentic_tasks.store import TaskStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = 1_000_000.0


def task(task_id: str = "t") -> TaskInput:
    return TaskInput(task_id=task_id, prompt="p", use_aoai=False, model_name="m", created_at=T0)


def test_the_first_attempt_takes_the_lease_with_the_tasks_file(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db", locking="dotfile")

    assert store.begin_first_attempt(task(), T0, ("first", NOW + 60)) == 1

    assert store.live_holder("t", NOW) == "first"
    assert store.take_lease("t", "second", NOW, NOW + 60) is False
    assert store.live_holder("t", NOW) == "first"


def test_only_the_holder_renews_and_releases_and_an_expired_lease_can_be_taken(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    assert store.take_lease("t", "a", NOW, NOW + 60) is True
    assert store.take_lease("t", "a", NOW, NOW + 60) is True  # taking it again is keeping it

    assert store.renew_lease("t", "b", NOW + 999) is False
    store.release_lease("t", "b")
    assert store.live_holder("t", NOW + 59) == "a"
    assert store.renew_lease("t", "a", NOW + 120) is True
    assert store.live_holder("t", NOW + 119) == "a"
    assert store.take_lease("t", "b", NOW + 119, NOW + 179) is False

    # Not renewed past its term: its holder is dead, and the next copy takes it.
    assert store.live_holder("t", NOW + 120) is None
    assert store.take_lease("t", "b", NOW + 120, NOW + 180) is True
    assert store.renew_lease("t", "a", NOW + 240) is False  # the stalled holder hears it lost the lease
    store.release_lease("t", "b")
    assert store.live_holder("t", NOW + 121) is None
    assert store.take_lease("t", "c", NOW + 121, NOW + 181) is True


def test_a_lease_is_kept_in_the_tasks_own_file_not_the_shared_one(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    writes = 0
    write = store.db.write

    def counted(fn):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        return write(fn)

    store.db.write = counted  # type: ignore[method-assign]
    store.take_lease("t", "a", NOW, NOW + 60)
    store.renew_lease("t", "a", NOW + 120)
    store.release_lease("t", "a")

    assert writes == 0
    assert store.task_file("t").exists()
