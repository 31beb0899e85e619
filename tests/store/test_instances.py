"""Several processes standing in for Function instances on one share-like folder: each runs tasks
through the store calls a run makes (some tasks run by two instances at once, as two copies of the
activity), while another process follows every task's stream as `GET /tasks/{id}/messages` does.
Nothing is lost, nothing duplicated, every follower sees every message once, and the file every
instance shares gets at most two writes per run of a task."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage
from magentic_tasks.settings import SqliteLocking
from magentic_tasks.store import Batch, Checkpoint, TaskStore

INSTANCES = 3
TASKS = 6  # per instance
TWINS = 2  # tasks each instance also runs at the same time as the next instance
ROUNDS = 3
PER_ROUND = 2  # messages per round
T0 = datetime(2025, 1, 1, tzinfo=UTC)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # every attempt started after it
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

_start: Any = None  # every process waits here, so that all of them write at once


def _init(barrier: Any) -> None:
    global _start
    _start = barrier


def _task(task_id: str) -> TaskInput:
    return TaskInput(task_id=task_id, prompt="p", use_aoai=False, model_name="m", created_at=T0)


def _run(store: TaskStore, task: TaskInput, instance: int) -> RunOutcome:
    """One copy of a run: its attempt begins (making the task's file, or after asking for an outcome),
    a batch per round with its checkpoint, the last batch, the outcome."""
    attempt, history = store.begin_first_attempt(task, T0), []
    if attempt is None:
        found = store.get_task(task.task_id)
        if found is not None and found.outcome is not None:
            return found.outcome
        attempt, _, history = store.start_attempt(task, T0)  # resumed from the other copy's checkpoint, if any
    store.mark_running(task, T0)
    messages = [*history, *(MessageView(source=f"i{instance}", content=f"{task.task_id}/{attempt}/{n}",
                                        type="TextMessage") for n in range(len(history), ROUNDS * PER_ROUND))]
    usage = {"Coder": TokenUsage(prompt_tokens=1)}
    for round_ in range(len(history) // PER_ROUND, ROUNDS):
        first = round_ * PER_ROUND
        boundary = Checkpoint(task_id=task.task_id, attempt=attempt, round=round_ + 1, messages=first + PER_ROUND,
                              state={"round": round_}, usage_by_agent=usage, elapsed=0.0, deadline=T0, saved_at=T0)
        store.write_batch(Batch(task_id=task.task_id, attempt=attempt, first_seq=first,
                                messages=messages[first:first + PER_ROUND], progress=None, usage=usage,
                                checkpoint=boundary))
    store.write_batch(Batch(task_id=task.task_id, attempt=attempt, first_seq=len(messages), messages=[],
                            progress=None, usage=usage))  # the attempt ends with its outcome
    outcome = RunOutcome(status="completed", messages=messages, final_answer=f"by {instance}", finished_at=T0)
    return store.save_outcome(task, outcome, attempt, True)


def _instance(path: str, locking: SqliteLocking, instance: int) -> tuple[dict[str, str], int]:
    """Runs this instance's tasks and its twins; the outcome each run got back, and its writes to the shared file."""
    store = TaskStore(path, locking=locking, busy_timeout_ms=30_000, lock_retries=20)
    shared_writes = 0
    write = store.db.write

    def counted(fn: Any) -> Any:
        nonlocal shared_writes
        shared_writes += 1
        return write(fn)

    store.db.write = counted  # type: ignore[method-assign]
    mine = [f"i{instance}-t{n}" for n in range(TASKS)]
    twins = [f"i{(instance - 1) % INSTANCES}-t{n}" for n in range(TWINS)]  # the previous instance's first tasks
    _start.wait(timeout=60)
    got = {}
    for task_id in [*twins, *mine]:  # the previous instance starts with these too
        got[f"{task_id}@{instance}"] = _run(store, _task(task_id), instance).model_dump_json()
    return got, shared_writes


def _follower(path: str, locking: SqliteLocking) -> dict[str, list[int]]:
    """Follows every task's stream from position 0 until it is finished, as `/messages` says it (or
    until the instances have surely failed: the test then fails on what it saw, instead of hanging)."""
    store = TaskStore(path, locking=locking, busy_timeout_ms=30_000, lock_retries=20)
    ids = [f"i{i}-t{n}" for i in range(INSTANCES) for n in range(TASKS)]
    seen: dict[str, list[int]] = {task_id: [] for task_id in ids}
    after = dict.fromkeys(ids, 0)
    _start.wait(timeout=60)
    open_tasks = set(ids)
    give_up = time.monotonic() + 200
    while open_tasks and time.monotonic() < give_up:
        for task_id in sorted(open_tasks):
            found = store.get_task(task_id, transcript=False)
            # As /messages decides `finished`: the task is final and no attempt is still streaming.
            done = found is not None and found.outcome is not None and not store.attempt_open(task_id, EPOCH)
            page, complete = store.stream_page(task_id, after[task_id], 4)
            seen[task_id] += [position for position, _, _ in page]
            if page:
                after[task_id] = page[-1][0] + 1
            if done and complete and not page:
                open_tasks.discard(task_id)
    return seen


def _share(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param != "share-like mount":
        return tmp_path
    sys.path.insert(0, str(BENCHMARKS))
    import latency_fs

    missing = latency_fs.available()
    if missing is not None:
        pytest.skip(f"no FUSE passthrough here: {missing}")
    return latency_fs.mounted(0.0005)  # half a millisecond per file call


@pytest.fixture(params=["local folder", "share-like mount"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    place = _share(request, tmp_path)
    if isinstance(place, Path):
        yield place
        return
    with place as mounted:
        yield mounted


@pytest.mark.parametrize("locking", ["default", "dotfile"])
def test_instances_running_tasks_and_a_follower_on_one_folder_lose_and_duplicate_nothing(
    folder: Path, locking: SqliteLocking
) -> None:
    db = folder / "tasks.db"
    TaskStore(db, locking=locking).integrity_check()  # the schema, made before they start
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(INSTANCES + 1)
    with ProcessPoolExecutor(INSTANCES + 1, mp_context=ctx, initializer=_init, initargs=(barrier,)) as pool:
        runs = [pool.submit(_instance, str(db), locking, i) for i in range(INSTANCES)]
        follower = pool.submit(_follower, str(db), locking)
        results = [run.result(timeout=240) for run in runs]
        seen = follower.result(timeout=240)

    got: dict[str, set[str]] = {}
    for outcomes, _ in results:
        for key, outcome in outcomes.items():
            got.setdefault(key.split("@")[0], set()).add(outcome)
    assert all(len(outcomes) == 1 for outcomes in got.values())  # both copies of a twin got one answer back
    runs_made = INSTANCES * (TASKS + TWINS)
    assert sum(writes for _, writes in results) <= 2 * runs_made  # the row marked running, the outcome

    store = TaskStore(db, locking=locking)
    for task_id, positions in seen.items():
        found = store.get_task(task_id)
        assert found is not None and found.outcome is not None and found.status == "completed"
        assert found.outcome.model_dump_json() in got[task_id]
        twin = int(task_id.split("-t")[1]) < TWINS
        own = sqlite3.connect(store.task_file(task_id))
        try:
            assert own.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            attempts = [a for (a,) in own.execute("SELECT attempt FROM attempts WHERE finished_at IS NOT NULL")]
            assert attempts in ([[1], [1, 2]] if twin else [[1]])  # a late copy finds the outcome and stops
            stored = [p for (p,) in own.execute("SELECT position FROM messages ORDER BY position")]
            assert own.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
        finally:
            own.close()
        assert stored == list(range(len(stored)))  # dense, each message once
        assert positions == stored  # the follower saw every message once, in order
        final = [m.content for m in found.outcome.messages]
        assert [c.rsplit("/", 1)[1] for c in final] == [str(n) for n in range(ROUNDS * PER_ROUND)]
    shared = sqlite3.connect(db)
    try:
        assert shared.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert shared.execute("SELECT COUNT(*) FROM tasks").fetchone() == (INSTANCES * TASKS,)
        assert shared.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)  # no transcript in it
    finally:
        shared.close()
    leftovers = [p.name for p in folder.rglob("*") if p.name.endswith(("-journal", ".lock"))]
    assert leftovers == []
