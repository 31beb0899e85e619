"""Several processes (standing in for Function hosts) writing one mirror at once lose nothing: the
shared file (every task's row) and each task's own file (its attempts and transcript)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage
from magentic_tasks.settings import SqliteLocking
from magentic_tasks.store import TaskStore

PROCESSES = 4
TASKS = 25
MESSAGES = 10
BATCH = 3
FAILED_EVERY = 5  # every fifth task fails its first attempt (2 messages) and is run again
T0 = datetime(2025, 1, 1, tzinfo=UTC)

_start: Any = None  # the barrier every worker waits at, so that all of them write at once


def _init(barrier: Any) -> None:
    global _start
    _start = barrier


def _worker(path: str, locking: SqliteLocking, worker: int) -> int:
    """One host's share of the load: the store calls one run of each task makes. Returns its write count."""
    store = TaskStore(path, locking=locking, busy_timeout_ms=30_000, lock_retries=20)
    _start.wait(timeout=60)
    writes = 0
    for n in range(TASKS):
        task = TaskInput(task_id=f"w{worker}-t{n}", prompt="p", use_aoai=False, model_name="m", created_at=T0)
        store.create_task(task)
        writes += 1
        if n % FAILED_EVERY == 0:
            failed = store.begin_attempt(task, T0)
            store.append_messages(task.task_id, failed, 0, _views(2, "lost"))
            store.finish_attempt(task.task_id, failed, T0, {"Coder": TokenUsage(prompt_tokens=1)}, "timeout")
            writes += 3
        attempt = store.begin_attempt(task, T0)
        store.mark_running(task, T0)
        writes += 2
        transcript = _views(MESSAGES, "m")
        for first in range(0, MESSAGES, BATCH):
            store.append_messages(task.task_id, attempt, first, transcript[first:first + BATCH])
            writes += 1
        store.append_messages(task.task_id, attempt, 0, transcript[:BATCH])  # a re-delivered batch
        store.finish_attempt(task.task_id, attempt, T0, {"Coder": TokenUsage(prompt_tokens=2)}, None)
        store.save_outcome(task, RunOutcome(status="completed", messages=transcript, finished_at=T0), attempt)
        writes += 3
        assert store.get_task(task.task_id) is not None
    return writes


def _views(n: int, prefix: str) -> list[MessageView]:
    return [MessageView(source="Coder", content=f"{prefix}{i}", type="TextMessage") for i in range(n)]


@pytest.mark.parametrize("locking", ["default", "dotfile"])
def test_processes_writing_one_file_at_once_lose_and_duplicate_nothing(tmp_path: Path, locking: SqliteLocking) -> None:
    db = tmp_path / "tasks.db"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx, initializer=_init, initargs=(barrier,)) as pool:
        futures = [pool.submit(_worker, str(db), locking, worker) for worker in range(PROCESSES)]
        writes = [future.result(timeout=120) for future in futures]

    retried_tasks = len(range(0, TASKS, FAILED_EVERY))
    assert sum(writes) == PROCESSES * (TASKS * (3 + -(-MESSAGES // BATCH) + 3) + retried_tasks * 3)

    conn = sqlite3.connect(db)
    try:
        def one(sql: str) -> Any:
            return conn.execute(sql).fetchone()[0]

        assert one("PRAGMA integrity_check") == "ok"
        assert one("PRAGMA journal_mode") == "delete"
        assert one("SELECT COUNT(*) FROM schema_version") == 1
        assert one("SELECT COUNT(*) FROM tasks") == PROCESSES * TASKS
        assert one("SELECT COUNT(*) FROM tasks WHERE status = 'completed' AND outcome_json IS NOT NULL") == (
            PROCESSES * TASKS
        )
        assert one("SELECT COUNT(*) FROM attempts") == one("SELECT COUNT(*) FROM messages") == 0
        final_attempts = dict(conn.execute("SELECT task_id, final_attempt FROM tasks").fetchall())
    finally:
        conn.close()
    assert final_attempts == {
        f"w{w}-t{n}": 2 if n % FAILED_EVERY == 0 else 1 for w in range(PROCESSES) for n in range(TASKS)
    }
    store = TaskStore(db, locking=locking)
    for task_id, final in final_attempts.items():
        own = sqlite3.connect(store.task_file(task_id))
        try:
            assert own.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            attempts = own.execute("SELECT attempt, finished_at IS NOT NULL FROM attempts ORDER BY attempt").fetchall()
            assert attempts == [(a, 1) for a in range(1, final + 1)]
            # the final attempt holds exactly its transcript, seq 0..MESSAGES-1; the failed one its 2
            assert own.execute("SELECT attempt, COUNT(*), MIN(seq), MAX(seq) FROM messages GROUP BY attempt").fetchall(
            ) == ([(1, 2, 0, 1)] if final == 2 else []) + [(final, MESSAGES, 0, MESSAGES - 1)]
            positions = [p for (p,) in own.execute("SELECT position FROM messages ORDER BY position")]
            assert positions == list(range(len(positions)))
        finally:
            own.close()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(("-journal", ".lock"))]
    assert leftovers == []
