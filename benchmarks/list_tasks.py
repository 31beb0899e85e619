"""Benchmark `GET /tasks` with many tasks in the store: p50/p99 of the service call per page shape.

Fills a SQLite file with `--tasks` tasks (spread over `--owners` principals, a quarter failed, the
rest completed; bulk-inserted through the store's own schema), then times `TaskService.list_tasks`
(query parsing, the SQLite page, the merge with Durable's recent tasks, the response body) for:
the first page, a page deep in the list (following cursors), a status filter, and one principal
that owns a single task. Durable is an in-memory stand-in with no recent tasks, so the numbers are
the service's and SQLite's own.

    python benchmarks/list_tasks.py --tasks 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.clock import iso  # noqa: E402
from magentic_tasks.service import TaskService  # noqa: E402
from magentic_tasks.settings import Settings  # noqa: E402
from magentic_tasks.store import TaskStore  # noqa: E402
from starters.http_api import answered  # noqa: E402
from tests.support.in_memory import InMemoryOrchestrations  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(store: TaskStore, tasks: int, owners: int) -> None:
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


async def timed(service: TaskService, query: dict[str, str], owner: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await answered(service.list_tasks(query, owner))
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.body
    return times


async def deep_cursor(service: TaskService, owner: str, pages: int) -> str:
    cursor = ""
    for _ in range(pages):
        query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        body = (await answered(service.list_tasks(query, owner))).body
        cursor = body["next_cursor"]
    return cursor


def show(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{name:<44} p50 {statistics.median(ordered):7.2f} ms   p99 {p99:7.2f} ms   (n={len(times)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=10)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(TASKS_DB_PATH=str(Path(folder) / "tasks.db"))  # type: ignore[call-arg]
        store = TaskStore(settings.tasks_db_path)
        started = time.perf_counter()
        fill(store, args.tasks, args.owners)
        print(f"{args.tasks} tasks, {args.owners} owners: filled in {time.perf_counter() - started:.1f} s")
        with sqlite3.connect(store.path) as conn:
            indexes = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
        print("indexes:", json.dumps(indexes))
        service = TaskService(settings, InMemoryOrchestrations(), store)
        owner = "owner-3"
        show("first page (limit 20)", await timed(service, {}, owner, args.runs))
        show("first page (limit 100)", await timed(service, {"limit": "100"}, owner, args.runs))
        cursor = await deep_cursor(service, owner, min(50, args.tasks // args.owners // 100 - 1))
        show("a page 5,000 tasks deep (limit 100)", await timed(service, {"limit": "100", "cursor": cursor}, owner,
                                                                 args.runs))
        show("status=failed (limit 20)", await timed(service, {"status": "failed"}, owner, args.runs))
        show("a principal with one task", await timed(service, {}, "lonely", args.runs))


if __name__ == "__main__":
    asyncio.run(main())
