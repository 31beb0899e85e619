"""Benchmark the reads with many tasks in the store: GET /tasks, status, result, /messages, retention.

Fills the mirror with `--tasks` finished tasks (spread over `--owners` principals, a quarter failed,
the rest completed; bulk-inserted into the shared file's tasks table), and `--sampled` more written
through the store as a run writes them (an attempt, a 20-message transcript in batches, the outcome;
a few still running), then times the service calls with their response bodies (p50/p99 over
`--runs`): `GET /tasks` for the first page, a page deep in the list (following cursors), a status
filter and a principal that owns a single task; `GET /tasks/{id}` of a finished and of a running
task (its progress); `GET /tasks/{id}/result`; a page of `GET /tasks/{id}/messages`; and one
retention run deleting the sampled finished tasks (per task). Durable is an in-memory stand-in that
knows only the running tasks, so the numbers are the service's and SQLite's own.

`--code PATH` measures another checkout's code (`git worktree add /tmp/before <rev>`) the same way.

    python benchmarks/list_tasks.py --tasks 100000
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SAMPLED_AT = datetime(2025, 6, 1, tzinfo=UTC)  # older than every bulk task: retention takes these first
RUNNING = 5  # of the sampled tasks, still running


def fill(store: Any, tasks: int, owners: int) -> None:
    iso = importlib.import_module("magentic_tasks.clock").iso
    store.task_exists("warm-up")  # creates the schema (and runs its migrations)
    rows = []
    for n in range(tasks):
        created = T0 + timedelta(seconds=n)
        status = "failed" if n % 4 == 0 else "completed"
        rows.append((f"task-{n:07d}", status, "prompt", 1, "gpt-4o", f"owner-{n % owners}", iso(created),
                     iso(created + timedelta(seconds=30)), "{}", 1))
    rows.append(("lonely-task", "completed", "prompt", 1, "gpt-4o", "lonely", iso(T0), iso(T0), "{}", 1))
    with sqlite3.connect(store.path) as conn:
        conn.executemany(
            """INSERT INTO tasks (task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at,
                                  outcome_json, final_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )


def sample(store: Any, count: int) -> list[Any]:
    """Tasks written as a run writes them; the first `RUNNING` have not finished."""
    schemas = importlib.import_module("magentic_tasks.schemas")
    tasks = []
    for n in range(count):
        at = SAMPLED_AT + timedelta(seconds=n)
        task = schemas.TaskInput(task_id=f"sampled-{n:04d}", prompt="What is 6 * 7?", use_aoai=False,
                                 model_name="gpt-4o", owner="owner-3", created_at=at)
        messages = [schemas.MessageView(source="Coder", content=f"message {i} " + "x" * 400, type="TextMessage")
                    for i in range(20)]
        attempt = store.begin_attempt(task, at)
        if hasattr(store, "mark_running"):
            store.mark_running(task, at)
        for first in range(0, 20, 4):
            store.append_messages(task.task_id, attempt, first, messages[first:first + 4], schemas.TaskProgress(
                attempt=attempt, rounds=first // 4, last_speaker="Coder", messages=first + 4, prompt_tokens=first,
                completion_tokens=1))
        if n >= RUNNING:
            store.finish_attempt(task.task_id, attempt, at, {}, None)
            store.save_outcome(task, schemas.RunOutcome(status="completed", messages=messages, final_answer="42",
                                                        finished_at=at), attempt)
        tasks.append(task)
    return tasks


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.body
    return times


def show(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<44} p50 {statistics.median(ordered):7.2f} ms   p99 {p99:7.2f} ms   (n={len(times)})")


async def run(args: argparse.Namespace, folder: Path) -> None:
    service_module = importlib.import_module("magentic_tasks.service")
    settings_module = importlib.import_module("magentic_tasks.settings")
    store_module = importlib.import_module("magentic_tasks.store")
    answered = importlib.import_module("starters.http_api").answered
    in_memory = importlib.import_module("tests.support.in_memory")

    settings = settings_module.Settings(TASKS_DB_PATH=str(folder / "tasks.db"), TASK_RETENTION_DAYS=30,
                                        TASK_WORKSPACE_ROOT=str(folder / "ws"))
    store = store_module.TaskStore(settings.tasks_db_path)
    started = time.perf_counter()
    fill(store, args.tasks, args.owners)
    sampled = sample(store, args.sampled)
    print(f"{args.tasks} tasks, {args.owners} owners, {args.sampled} written as runs write them: filled in "
          f"{time.perf_counter() - started:.1f} s")
    durable = in_memory.InMemoryOrchestrations()
    for task in sampled[:RUNNING]:
        await durable.start(task)
        durable.snapshots[task.task_id] = durable.snapshots[task.task_id].model_copy(update={"status": "running"})
    service = service_module.TaskService(settings, durable, store, clock=lambda: T0 + timedelta(days=29))

    def listing(query: dict[str, str], owner: str) -> Callable[[], Awaitable[Any]]:
        return lambda: answered(service.list_tasks(query, owner))

    owner, runs = "owner-3", args.runs
    show("GET /tasks first page (limit 20)", await timed(listing({}, owner), runs))
    show("GET /tasks first page (limit 100)", await timed(listing({"limit": "100"}, owner), runs))
    cursor = ""
    for _ in range(min(50, args.tasks // args.owners // 100 - 1)):
        page = (await listing({"limit": "100", **({"cursor": cursor} if cursor else {})}, owner)()).body
        cursor = page["next_cursor"]
    show("GET /tasks 5,000 tasks deep (limit 100)", await timed(listing({"limit": "100", "cursor": cursor}, owner),
                                                                 runs))
    show("GET /tasks status=failed (limit 20)", await timed(listing({"status": "failed"}, owner), runs))
    show("GET /tasks of a principal with one task", await timed(listing({}, "lonely"), runs))
    finished, running = sampled[RUNNING].task_id, sampled[0].task_id
    show("GET /tasks/{id} finished", await timed(lambda: answered(service.status(finished, owner)), runs))
    show("GET /tasks/{id} running (progress)", await timed(lambda: answered(service.status(running, owner)), runs))
    show("GET /tasks/{id}/result (20 messages)", await timed(lambda: answered(service.result(finished, owner)), runs))
    show("GET /tasks/{id}/messages (limit 100)",
         await timed(lambda: answered(service.messages(finished, owner, {"limit": "100"})), runs))
    started = time.perf_counter()
    report = await service.apply_retention()
    elapsed = (time.perf_counter() - started) * 1000
    assert report.tasks_deleted == args.sampled - RUNNING, report
    print(f"{'retention, per task deleted':<44} {elapsed / report.tasks_deleted:7.2f} ms   "
          f"({report.tasks_deleted} tasks in {elapsed:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=10)
    parser.add_argument("--sampled", type=int, default=105, help="tasks written as runs write them (default 105)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose code to measure")
    args = parser.parse_args()
    sys.path[:0] = [str(args.code.resolve()), str(ROOT)]
    print(f"code {args.code.resolve()}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder)))


if __name__ == "__main__":
    main()
