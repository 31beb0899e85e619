"""Benchmark the SQLite task mirror under concurrent writers, per locking mode.

Several processes (spawned, like Function instances on separate hosts) each run the store calls of
`--tasks` task runs on one mirror at once: create the task, begin an attempt and mark it running,
append `--messages` transcript entries in batches of `--batch`, finish the attempt, save the
outcome, read the task back. Prints write calls and messages per second, wall time, write latency
and `PRAGMA integrity_check` of the shared file and every task's own file.

    python benchmarks/sqlite_writes.py --mode both
    python benchmarks/sqlite_writes.py --path /mnt/tasks/bench --processes 8   # e.g. on an SMB mount
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage  # noqa: E402
from magentic_tasks.settings import SqliteLocking  # noqa: E402
from magentic_tasks.store import TaskStore  # noqa: E402

T = TypeVar("T")
T0 = datetime(2025, 1, 1, tzinfo=UTC)

_start: Any = None  # barrier: every worker starts writing at the same moment


@dataclass
class WorkerResult:
    writes: int = 0
    reads: int = 0
    messages: int = 0
    started: float = 0.0
    finished: float = 0.0
    write_latencies: list[float] = field(default_factory=list)


def _init(barrier: Any) -> None:
    global _start
    _start = barrier


def _worker(path: str, locking: SqliteLocking, worker: int, tasks: int, messages: int, batch: int,
            busy_timeout_ms: int, lock_retries: int) -> WorkerResult:
    store = TaskStore(path, locking=locking, busy_timeout_ms=busy_timeout_ms, lock_retries=lock_retries)
    result = WorkerResult()

    def write(operation: Callable[..., T], *args: Any) -> T:
        began = time.perf_counter()
        value = operation(*args)
        result.write_latencies.append(time.perf_counter() - began)
        result.writes += 1
        return value

    transcript = [MessageView(source="Coder", content=f"message {i} " + "x" * 200, type="TextMessage")
                  for i in range(messages)]
    _start.wait(timeout=120)
    result.started = time.perf_counter()
    for n in range(tasks):
        task = TaskInput(task_id=f"w{worker}-t{n}", prompt="p", use_aoai=False, model_name="m", created_at=T0)
        write(store.create_task, task)
        attempt = write(store.begin_attempt, task, T0)
        write(store.mark_running, task, T0)
        for first in range(0, messages, batch):
            write(store.append_messages, task.task_id, attempt, first, transcript[first:first + batch])
        result.messages += messages
        write(store.finish_attempt, task.task_id, attempt, T0, {"Coder": TokenUsage(prompt_tokens=1)}, None)
        write(store.save_outcome, task, RunOutcome(status="completed", messages=transcript, finished_at=T0), attempt)
        store.get_task(task.task_id)
        result.reads += 1
    result.finished = time.perf_counter()
    return result


@dataclass
class ModeResult:
    mode: str
    writes: int
    messages: int
    wall: float
    latencies: list[float]
    integrity: str
    rows_ok: bool


def run_mode(directory: Path, locking: SqliteLocking, args: argparse.Namespace) -> ModeResult:
    db = directory / f"bench-{locking}" / "tasks.db"  # the tasks' own files go beside it
    shutil.rmtree(db.parent, ignore_errors=True)

    TaskStore(db, locking=locking).integrity_check()  # create the schema outside the timed run
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.processes)
    with ProcessPoolExecutor(args.processes, mp_context=ctx, initializer=_init, initargs=(barrier,)) as pool:
        futures = [
            pool.submit(_worker, str(db), locking, w, args.tasks, args.messages, args.batch,
                        args.busy_timeout_ms, args.lock_retries)
            for w in range(args.processes)
        ]
        results = [future.result() for future in futures]

    wall = max(r.finished for r in results) - min(r.started for r in results)
    counts = [0, 0, 0]
    checks = set()
    for file in (db, *(db.parent / "tasks").glob("*/*.db")):  # the shared file, then each task's own
        conn = sqlite3.connect(file)
        try:
            checks.add(str(conn.execute("PRAGMA integrity_check").fetchone()[0]))
            for i, table in enumerate(("tasks", "attempts", "messages")):
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                    counts[i] += conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    integrity = "ok" if checks == {"ok"} else ", ".join(sorted(checks))
    total_tasks = args.processes * args.tasks
    return ModeResult(
        mode=locking,
        writes=sum(r.writes for r in results),
        messages=sum(r.messages for r in results),
        wall=wall,
        latencies=[x for r in results for x in r.write_latencies],
        integrity=integrity,
        rows_ok=counts == [total_tasks, total_tasks, total_tasks * args.messages],
    )


def print_table(results: list[ModeResult], args: argparse.Namespace) -> None:
    print(f"\n{args.processes} processes x {args.tasks} tasks x {args.messages} messages (batches of {args.batch}), "
          f"busy_timeout {args.busy_timeout_ms} ms, lock_retries {args.lock_retries}\n")
    header = ("mode", "write calls", "calls/s", "msgs/s", "wall s", "p50 ms", "p95 ms", "max ms",
              "rows", "integrity")
    table = [header]
    for r in results:
        q = statistics.quantiles(r.latencies, n=20) if len(r.latencies) > 1 else [0.0] * 19
        table.append((
            r.mode, str(r.writes), f"{r.writes / r.wall:.0f}", f"{r.messages / r.wall:.0f}", f"{r.wall:.2f}",
            f"{statistics.median(r.latencies) * 1000:.1f}", f"{q[18] * 1000:.1f}",
            f"{max(r.latencies) * 1000:.1f}", "exact" if r.rows_ok else "WRONG", r.integrity,
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=25, help="tasks per process")
    parser.add_argument("--messages", type=int, default=10, help="transcript entries per task")
    parser.add_argument("--batch", type=int, default=3, help="entries per append_messages call")
    parser.add_argument("--mode", choices=("default", "dotfile", "both"), default="both")
    parser.add_argument("--path", type=Path, default=None,
                        help="directory for the bench-<mode> folders (default: a temporary directory)")
    parser.add_argument("--busy-timeout-ms", type=int, default=30_000)
    parser.add_argument("--lock-retries", type=int, default=10)
    args = parser.parse_args(argv)

    modes: list[SqliteLocking] = ["default", "dotfile"] if args.mode == "both" else [args.mode]
    temporary = args.path is None
    directory = Path(tempfile.mkdtemp(prefix="sqlite-bench-")) if temporary else args.path
    directory.mkdir(parents=True, exist_ok=True)
    try:
        results = [run_mode(directory, mode, args) for mode in modes]
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
    print_table(results, args)
    return 0 if all(r.integrity == "ok" and r.rows_ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
