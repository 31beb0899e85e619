"""An attempt's mirror writes, batched: one transaction per round or per flush interval, nothing lost.

The store is real SQLite; a `CountingStore` counts write transactions (of the shared file and of
the task's own) and remembers each batch it committed, with the moment it did.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from magentic_tasks.errors import StoreError
from magentic_tasks.run import ProgressTracker, TranscriptWriter, UsageMeter, execute_task
from magentic_tasks.schemas import MessageView, TaskInput, TokenUsage
from magentic_tasks.settings import Settings, SqliteLocking
from magentic_tasks.store import AttemptEnd, Batch, Checkpoint, TaskStore, progress_mark
from tests.run.test_attempt import TASK, scripted_client
from tests.support.model_server import Script, ScriptedModelServer

T = TypeVar("T")


class CountingStore(TaskStore):
    """Names each committed write transaction: "batch" (the transcript writer's), "own" (another of
    the task's own file) or "shared" (the file every instance shares). `first_batch`, when given,
    runs in the first batch's write before anything is written: it may raise (the write fails) or
    sleep (the share is slow)."""

    def __init__(
        self, path: Path, *, first_batch: Callable[[], None] | None = None, locking: SqliteLocking = "default"
    ) -> None:
        super().__init__(path, locking=locking)
        self.writes: list[str] = []
        self.batches: list[tuple[float, Batch]] = []
        self.first_batch = first_batch
        self._batch_thread = threading.local()  # batches are written in the mirror's threads, several at once
        shared_write, own_write = self.db.write, self.files.write

        def counted_shared(fn: Callable[[sqlite3.Connection], T]) -> T:
            result = shared_write(fn)
            self.writes.append("shared")
            return result

        def counted_own(task_id: str, fn: Callable[[sqlite3.Connection], T], *args: Any, **kwargs: Any) -> T:
            result = own_write(task_id, fn, *args, **kwargs)
            self.writes.append("batch" if getattr(self._batch_thread, "on", False) else "own")
            return result

        own_read = self.files.read
        self.reads = 0  # of the task's own file

        def counted_read(task_id: str, fn: Callable[[sqlite3.Connection], T]) -> T:
            self.reads += 1
            return own_read(task_id, fn)

        self.db.write = counted_shared  # type: ignore[method-assign]
        self.files.write = counted_own  # type: ignore[method-assign]
        self.files.read = counted_read  # type: ignore[method-assign]

    def write_batch(self, batch: Batch) -> int:
        first, self.first_batch = self.first_batch, None
        if first is not None:
            first()
        self._batch_thread.on = True
        try:
            stored = super().write_batch(batch)
        finally:
            self._batch_thread.on = False
        self.batches.append((time.monotonic(), batch))
        return stored


def until(condition: Callable[[], bool]) -> None:
    """Wait (in a thread) for another thread's state."""
    while not condition():
        time.sleep(0.01)


def mirror_down() -> None:
    raise StoreError("task database tasks.db: disk I/O error")


def share_under_load() -> None:
    time.sleep(0.3)


def defect() -> None:
    """Not a `StoreError`: best_effort does not catch it."""
    raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")


def views(*contents: str) -> list[MessageView]:
    return [MessageView(source="Coder", content=text, type="TextMessage") for text in contents]


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    store = CountingStore(tmp_path / "tasks.db")
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    store.writes.clear()
    return store


def writer_for(store: TaskStore, flush_seconds: float, meter: UsageMeter | None = None) -> TranscriptWriter:
    return TranscriptWriter(store, TASK.task_id, ProgressTracker(1), meter or UsageMeter(None), flush_seconds)


def stored(store: TaskStore) -> list[str]:
    return [m.content for m in store.messages(TASK.task_id, 1)]


async def test_messages_within_the_interval_go_in_one_transaction_that_a_follower_sees_in_time(
    store: CountingStore,
) -> None:
    writer = writer_for(store, flush_seconds=0.2)
    added = time.monotonic()
    writer.add(views("a"))
    writer.add(views("b", "c"))
    assert stored(store) == []  # held: nothing is written per message
    await asyncio.sleep(0.6)
    assert stored(store) == ["a", "b", "c"]
    assert store.writes == ["batch"]
    (committed, batch), = store.batches
    assert committed - added < 0.5  # the interval, and the write itself
    page, _ = store.stream_page(TASK.task_id, 0, 10)
    assert [m.content for _, _, m in page] == ["a", "b", "c"]
    assert batch.progress is not None and batch.progress.messages == 3


async def test_a_round_boundary_writes_its_messages_and_checkpoint_together_at_once(store: CountingStore) -> None:
    writer = writer_for(store, flush_seconds=30)
    writer.add(views("plan", "answer"))
    checkpoint = Checkpoint(
        task_id=TASK.task_id, attempt=1, round=1, messages=2, state={"team": "idle"}, usage_by_agent={},
        elapsed=1.0, deadline=datetime(2026, 11, 29, tzinfo=UTC), saved_at=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert await writer.flush(checkpoint=checkpoint)
    assert store.writes == ["batch"]  # one transaction for both
    latest = store.latest_checkpoint(TASK.task_id)
    assert latest is not None and latest.messages == len(stored(store)) == 2


async def test_token_usage_alone_is_written_within_the_interval(store: CountingStore) -> None:
    meter = UsageMeter(None)
    writer = writer_for(store, flush_seconds=0.1, meter=meter)
    meter.by_agent["Coder"] = TokenUsage(prompt_tokens=7, completion_tokens=3)
    writer.usage_changed()
    await asyncio.sleep(0.4)
    assert store.attempt_usage(TASK.task_id) == {1: {"Coder": TokenUsage(prompt_tokens=7, completion_tokens=3)}}


async def test_a_batch_that_cannot_be_written_goes_with_the_next_one(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "tasks.db", first_batch=mirror_down)
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    writer = writer_for(store, flush_seconds=30)
    writer.add(views("a", "b"))
    assert not await writer.flush()  # the mirror is down: held
    writer.add(views("c"))
    assert await writer.close(AttemptEnd(datetime(2026, 11, 28, tzinfo=UTC)))
    assert stored(store) == ["a", "b", "c"]  # nothing lost, nothing twice
    assert [batch.first_seq for _, batch in store.batches] == [0]


async def test_nothing_is_written_after_the_attempts_last_batch(store: CountingStore) -> None:
    writer = writer_for(store, flush_seconds=0.05)
    writer.add(views("a"))
    assert await writer.close(AttemptEnd(datetime(2026, 11, 28, tzinfo=UTC), error="boom"))
    writer.add(views("late"))
    writer.usage_changed()
    await asyncio.sleep(0.2)
    assert stored(store) == ["a"] and store.writes == ["batch"]
    assert store.attempt_error(TASK.task_id, 1) == "boom"


async def test_a_run_writes_a_batch_per_round_and_a_constant_number_of_other_transactions(tmp_path: Path) -> None:
    settings = Settings(OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
                        TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"), MIRROR_FLUSH_SECONDS=1.0)
    store = CountingStore(tmp_path / "tasks.db")
    task = TaskInput.model_validate({**TASK.model_dump(), "task_id": "batched"})
    started = time.monotonic()
    outcome = await execute_task(task, settings, store=store, client=scripted_client())
    elapsed = time.monotonic() - started
    assert outcome.status == "completed"
    rounds = sum(1 for _, batch in store.batches if batch.checkpoint is not None)
    assert rounds >= 1
    # Per round one batch (with its checkpoint), per second at most one more, and the attempt's last.
    assert len(store.batches) <= rounds + 1 + math.ceil(elapsed / settings.mirror_flush_seconds)
    # The shared file: the task's row marked running, its outcome. Its own file: made with the first
    # attempt (taking the run's lease); after the outcome, the attempt ends, the checkpoints and the
    # lease go.
    assert sorted(w for w in store.writes if w != "batch") == ["own", "own", "shared", "shared"]
    # Read back: the tokens of every attempt, once. The attempt made the task's file, so it reads no
    # file rows back (on a share each read is round trips at the start and at the end of the run).
    assert store.reads == 1
    assert store.latest_checkpoint(task.task_id) is None
    assert [m.content for m in store.messages(task.task_id, 1)] == [m.content for m in outcome.messages]


async def test_the_next_round_runs_while_the_rounds_checkpoint_is_still_being_written(tmp_path: Path) -> None:
    """On a share a checkpoint takes a good part of a second to write: the run does not wait for it
    (a kill meanwhile resumes from the round before, as a kill during the write always did)."""
    lands = threading.Event()

    class SlowCheckpoints(CountingStore):
        def write_batch(self, batch: Batch) -> int:
            if batch.checkpoint is not None:
                assert lands.wait(60)  # the round's checkpoint lands only once the test lets it
            return super().write_batch(batch)

    store = SlowCheckpoints(tmp_path / "tasks.db")
    task = TaskInput.model_validate({**TASK.model_dump(), "task_id": "overlapped"})
    with ScriptedModelServer(Script(rounds_before_satisfied=1)) as server:
        settings = Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test-key-000000000000",
                            TASKS_DB_PATH=str(tmp_path / "tasks.db"), TASK_WORKSPACE_ROOT=str(tmp_path / "ws"),
                            MIRROR_FLUSH_SECONDS=30)
        running = asyncio.ensure_future(execute_task(task, settings, store=store))
        while server.calls_by_kind.get("ledger", 0) < 2:  # round 2 begins with the orchestrator's ledger
            assert not running.done(), "the run ended before it asked for round 2's ledger"
            await asyncio.sleep(0.01)
        assert store.latest_checkpoint(task.task_id) is None  # round 1's checkpoint is still on its way
        lands.set()
        outcome = await running
    assert outcome.status == "completed"
    assert [batch.checkpoint.round for _, batch in store.batches if batch.checkpoint is not None] == [1]
    assert [m.content for m in store.messages(task.task_id, 1)] == [m.content for m in outcome.messages]


async def test_a_timed_batch_is_handed_over_early_by_as_long_as_the_last_write_took(tmp_path: Path) -> None:
    """So that a follower sees a message about MIRROR_FLUSH_SECONDS after it was made, on a share too
    (where a write takes a good part of a second); never more often than twice per interval."""
    slow = threading.Event()

    class Share(CountingStore):
        def write_batch(self, batch: Batch) -> int:
            assert slow.wait(60)  # lands once the test has seen it take its time
            return super().write_batch(batch)

    store = Share(tmp_path / "tasks.db")
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    writer = writer_for(store, flush_seconds=2)
    loop = asyncio.get_running_loop()
    writer.add(views("a"))
    first = await writer.hand()
    await asyncio.sleep(0.6)  # the share takes 0.6 s or more for this write
    slow.set()
    assert await first
    before = loop.time()
    writer.add(views("b"))
    due = writer.next_batch_in()
    between = loop.time() - before  # a busy machine may pause between scheduling and asking
    # The delay, 2 s less the write's 0.6 s (or more) and at least half of 2 s, lies in [due, due + between].
    assert due is not None and due <= 1.4 and due + between >= 1.0
    assert await writer.close()
    assert stored(store) == ["a", "b"]


async def test_a_batch_cancelled_mid_write_lands_before_the_next_so_usage_never_goes_back(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "tasks.db", first_batch=share_under_load)
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    meter = UsageMeter(None)
    writer = writer_for(store, flush_seconds=30, meter=meter)
    meter.by_agent["Coder"] = TokenUsage(prompt_tokens=1, completion_tokens=1)
    writer.add(views("a"))
    flushing = asyncio.ensure_future(writer.flush())
    await asyncio.sleep(0.05)
    flushing.cancel()  # the run was cancelled while its round's batch was being written
    meter.by_agent["Coder"] = TokenUsage(prompt_tokens=5, completion_tokens=5)
    assert await writer.close(AttemptEnd(datetime(2026, 11, 28, tzinfo=UTC)))
    await asyncio.sleep(0.4)  # anything still in a thread has landed by now
    assert store.attempt_usage(TASK.task_id) == {1: {"Coder": TokenUsage(prompt_tokens=5, completion_tokens=5)}}
    assert stored(store) == ["a"]


async def test_a_defect_in_a_background_batch_is_logged_and_its_messages_go_with_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CountingStore(tmp_path / "tasks.db", first_batch=defect)
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    writer = writer_for(store, flush_seconds=0.05)
    writer.add(views("a"))
    await asyncio.sleep(0.3)
    # The first line: with log redaction installed (by app start), the traceback is folded into the message.
    assert [r.getMessage().splitlines()[0] for r in caplog.records if r.levelname == "ERROR"] == [
        f"task {TASK.task_id}: a transcript batch failed"
    ]
    assert await writer.close(AttemptEnd(datetime(2026, 11, 28, tzinfo=UTC)))
    assert stored(store) == ["a"]


async def test_a_round_boundary_while_a_timed_batch_takes_the_lock_joins_its_transaction(tmp_path: Path) -> None:
    """On a share a batch waits round trips (or another instance) for the file's lock; the round's
    checkpoint, handed over meanwhile, is committed with it: the run waits for one write, not two."""
    store = CountingStore(tmp_path / "tasks.db", locking="dotfile")
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))
    store.hold(TASK.task_id)
    own = store.files._database(TASK.task_id)
    transactions: list[int] = []
    run_batch = own._group._run_batch

    def counted(works: list[Any], late: Any) -> None:
        run_batch(works, late)
        transactions.append(len(works))

    own._group._run_batch = counted
    lock = store.task_file(TASK.task_id).with_name(store.task_file(TASK.task_id).name + ".lock")
    lock.mkdir()  # the file's lock is taken: the timed batch waits for it
    writer = writer_for(store, flush_seconds=30)
    writer.add(views("instruction"))
    timed = asyncio.ensure_future(writer.flush())
    await asyncio.to_thread(until, lambda: own._group._busy)  # the timed batch leads, and waits for the lock
    writer.add(views("answer"))
    boundary = asyncio.ensure_future(writer.flush(checkpoint=Checkpoint(
        task_id=TASK.task_id, attempt=1, round=1, messages=2, state={}, usage_by_agent={}, elapsed=1.0,
        deadline=datetime(2026, 11, 29, tzinfo=UTC), saved_at=datetime(2026, 11, 28, tzinfo=UTC))))
    await asyncio.to_thread(until, lambda: len(own._group._queue) == 1)  # handed over while the first waits
    lock.rmdir()

    assert await timed and await boundary
    assert transactions == [2]
    assert stored(store) == ["instruction", "answer"] and store.latest_checkpoint(TASK.task_id) is not None
    store.release(TASK.task_id)


def test_batches_that_land_out_of_order_keep_the_newest_usage_and_never_leave_a_gap(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    store.begin_attempt(TASK, datetime(2026, 11, 28, tzinfo=UTC))

    def batch(first: int, contents: list[str], tokens: int, entries: int | None = None) -> Batch:
        end = first + len(contents) if entries is None else entries
        return Batch(task_id=TASK.task_id, attempt=1, first_seq=first, messages=views(*contents), progress=None,
                     usage={"Coder": TokenUsage(prompt_tokens=tokens)}, number=progress_mark(end, tokens))

    with pytest.raises(StoreError, match="only 0 stored before it"):
        store.write_batch(batch(1, ["b"], 20))  # its entry 0 is not stored yet
    store.write_batch(batch(2, [], 30, entries=2))  # usage alone, made after both
    store.write_batch(batch(0, ["a"], 10))  # the oldest lands last
    assert stored(store) == ["a"]
    assert store.attempt_usage(TASK.task_id) == {1: {"Coder": TokenUsage(prompt_tokens=30)}}
    store.write_batch(batch(0, ["a", "b"], 40))  # everything from the stored entries on, again
    assert stored(store) == ["a", "b"]
    assert store.attempt_usage(TASK.task_id) == {1: {"Coder": TokenUsage(prompt_tokens=40)}}
