"""Benchmark what the file every instance shares costs per task: file calls per write transaction.

A run writes the shared `tasks.db` twice: its row when its first attempt begins (`mark_running`)
and its outcome when it ends (`save_outcome`); the tasks one instance has at once share a
transaction (group commit). This counts the file calls of those transactions on the FUSE
passthrough (benchmarks/latency_fs.py, no added latency: only the count matters here) for groups of
`--groups` tasks, on a shared file that already holds `--tasks` tasks (as a busy app's does: its
indexes are deep, and another instance has just written it, so nothing is cached), and prints the
whole app's ceiling on paper: how many tasks per second the shared file can take at 2, 5 and 14 ms
per file call, when it does nothing else.

    python benchmarks/shared_rows.py --tasks 100000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import latency_fs  # noqa: E402

from magentic_tasks.clock import iso  # noqa: E402
from magentic_tasks.schemas import RunOutcome, TaskInput, TokenUsage  # noqa: E402
from magentic_tasks.store import TaskStore  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOME = RunOutcome(status="completed", final_answer="The answer is 42. " * 20, prompt_tokens=12_345,
                     completion_tokens=678, usage_by_agent={"Orchestrator": TokenUsage(prompt_tokens=10_000),
                                                            "Coder": TokenUsage(prompt_tokens=2_345)}, finished_at=T0)


def fill(path: Path, tasks: int) -> None:
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO tasks (task_id, status, prompt, use_aoai, model_name, owner, created_at, updated_at, outcome_json,"
        " final_attempt) VALUES (?, 'completed', ?, 1, 'gpt-4o', ?, ?, ?, ?, 1)",
        ((str(uuid.uuid4()), "p" * 200, f"owner-{n % 10}", iso(T0 + timedelta(seconds=n)),
          iso(T0 + timedelta(seconds=n + 30)), OUTCOME.model_dump_json()) for n in range(tasks)),
    )
    conn.commit()
    conn.close()


def calls_per_transaction(folder: Path, group: int, write: str) -> float:
    """File calls of one group transaction of `group` tasks' `write`, right after another instance wrote."""
    store, other = TaskStore(folder / "tasks.db", locking="dotfile"), TaskStore(folder / "tasks.db", locking="dotfile")
    tasks = [TaskInput(task_id=str(uuid.uuid4()), prompt="p" * 200, use_aoai=False, model_name="gpt-4o",
                       owner="owner-1", created_at=datetime.now(UTC)) for _ in range(group)]
    if write == "outcome":
        for task in tasks:
            store.mark_running(task, T0)
    store.task_exists("warm")  # this store's connection is open
    other.create_task(TaskInput(task_id=str(uuid.uuid4()), prompt="p", use_aoai=False, model_name="m",
                                created_at=T0))  # another instance wrote: this one's cache is stale
    works = [store.db.submit(lambda conn, t=t: _write(conn, t, write)) for t in tasks]  # queued together
    before = latency_fs.round_trips(folder)
    for work in works:
        store.db.wait(work)  # the first leads one transaction with all of them
    return latency_fs.round_trips(folder) - before


def _write(conn: sqlite3.Connection, task: TaskInput, write: str) -> None:
    from magentic_tasks.store import _tasks

    if write == "running":
        _tasks.mark_running(conn, task, T0)
    else:
        _tasks.record_outcome(conn, task, OUTCOME, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--groups", default="1,8,32")
    args = parser.parse_args()
    print(f"the shared file holds {args.tasks} tasks; file calls per write transaction, by tasks in it")
    with latency_fs.mounted(0.0) as folder:
        TaskStore(folder / "tasks.db").task_exists("schema")
        fill(folder / "tasks.db", args.tasks)
        for group in (int(g) for g in args.groups.split(",")):
            running, outcome = (calls_per_transaction(folder, group, write) for write in ("running", "outcome"))
            per_task = (running + outcome) / group
            ceiling = "  ".join(f"{rtt} ms: {1000 / (per_task * rtt):5.1f}" for rtt in (2, 5, 14))
            print(f"  {group:3d} tasks a transaction: marked running {running:4.0f} calls, outcome {outcome:4.0f} "
                  f"calls; {per_task:5.1f} calls a task; the whole app's ceiling in tasks/s at {ceiling}")


if __name__ == "__main__":
    main()
