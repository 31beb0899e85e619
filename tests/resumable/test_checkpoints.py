"""Round checkpoints in the mirror (real SQLite): who may continue an attempt, how a resumed
attempt's transcript starts, and that nothing of a run outlives the task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage
from magentic_tasks.store import Checkpoint, TaskStore

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TASK = TaskInput(task_id="task-1", prompt="p", use_aoai=False, model_name="gpt-4o", created_at=T0)
USAGE = {"Coder": TokenUsage(prompt_tokens=10, completion_tokens=2)}


def checkpoint(attempt: int, round_: int, messages: int, holder: str | None = "run-a") -> Checkpoint:
    return Checkpoint(task_id=TASK.task_id, attempt=attempt, round=round_, messages=messages,
                      state={"agent_states": {"x": {"text": "\ud800 lone"}}}, usage_by_agent=USAGE, elapsed=1.5,
                      deadline=T0 + timedelta(minutes=9), held_by=holder, saved_at=T0 + timedelta(seconds=round_))


def views(n: int, prefix: str = "m") -> list[MessageView]:
    return [MessageView(source="s", content=f"{prefix}{i}", type="TextMessage") for i in range(n)]


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    return TaskStore(tmp_path / "tasks.db")


def test_a_held_checkpoint_is_claimed_by_nobody_and_a_released_one_by_exactly_one(store: TaskStore) -> None:
    attempt = store.begin_attempt(TASK, T0)
    assert store.save_checkpoint(checkpoint(attempt, 1, 4), USAGE) > 0
    assert store.claim_checkpoint(TASK.task_id, attempt, 1, "run-b") is None  # its run may still go on
    assert not store.release_checkpoint(TASK.task_id, attempt, "run-b")  # only the holder releases
    assert store.release_checkpoint(TASK.task_id, attempt, "run-a")

    claimed = store.claim_checkpoint(TASK.task_id, attempt, 1, "run-b")
    assert claimed is not None and claimed.held_by == "run-b" and claimed.state == checkpoint(1, 1, 4).state
    assert store.claim_checkpoint(TASK.task_id, attempt, 1, "run-c") is None  # a second copy of the slice
    store.save_checkpoint(checkpoint(attempt, 2, 6, "run-b"), USAGE)
    store.release_checkpoint(TASK.task_id, attempt, "run-b")
    assert store.claim_checkpoint(TASK.task_id, attempt, 1, "run-c") is None  # that boundary has moved on
    assert store.attempt_usage(TASK.task_id) == {attempt: USAGE}  # saved with the checkpoint


def test_the_latest_checkpoint_is_the_furthest_round_of_any_attempt(store: TaskStore) -> None:
    a, b = store.begin_attempt(TASK, T0), store.begin_attempt(TASK, T0)
    store.save_checkpoint(checkpoint(a, 3, 8), USAGE)
    store.save_checkpoint(checkpoint(b, 2, 6), USAGE)
    latest = store.latest_checkpoint(TASK.task_id)
    assert latest is not None and (latest.attempt, latest.round, latest.messages) == (a, 3, 8)
    assert latest.deadline == T0 + timedelta(minutes=9) and latest.usage_by_agent == USAGE


def test_a_resumed_attempt_restates_the_transcript_up_to_the_checkpoint_in_new_positions(store: TaskStore) -> None:
    first = store.begin_attempt(TASK, T0)
    store.append_messages(TASK.task_id, first, 0, views(5))  # 3 up to the checkpoint, 2 of a lost round
    second = store.begin_attempt(TASK, T0)

    store.resume_attempt(TASK.task_id, first, second, 3)
    store.resume_attempt(TASK.task_id, first, second, 3)  # a re-delivered resume copies nothing twice

    assert store.messages(TASK.task_id, second) == views(3)
    page, complete = store.stream_page(TASK.task_id, 5, 10)
    assert [(position, attempt) for position, attempt, _ in page] == [(5, second), (6, second), (7, second)]
    assert complete


def test_deleting_a_task_or_finishing_its_run_leaves_no_checkpoint(store: TaskStore) -> None:
    attempt = store.begin_attempt(TASK, T0)
    store.save_checkpoint(checkpoint(attempt, 1, 4), USAGE)
    store.save_outcome(TASK, RunOutcome(status="completed", finished_at=T0), attempt)  # its run finished
    assert store.latest_checkpoint(TASK.task_id) is None

    store.save_checkpoint(checkpoint(attempt, 1, 4), USAGE)
    assert store.checkpoint_bytes(TASK.task_id) > 0
    assert store.delete_task(TASK.task_id)
    assert store.latest_checkpoint(TASK.task_id) is None and store.checkpoint_bytes(TASK.task_id) == 0
