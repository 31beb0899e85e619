"""Benchmark the task mirror's writes on a share-like filesystem: transactions and time per task.

Runs `--tasks` tasks (`--concurrency` at a time, in one process as one instance runs them) through
`execute_task` as the activity does: the real team against the scripted model server over HTTP,
`--rounds` rounds each, `--latency` seconds per model call, SQLITE_LOCKING=dotfile, on a FUSE
passthrough that adds `--rtt-ms` to every file call (benchmarks/latency_fs.py: an SMB mount's round
trips; a plain local folder when FUSE is missing, and the table says so). For each
MIRROR_FLUSH_SECONDS in `--flush` it prints, per task: write transactions (batches of streamed
messages and usage / the others) and time spent in them; each task's duration (median) and the
wall time of all; and the follower lag: how long a message waited between the team producing it
and its commit (max, p95).

`--code PATH` measures another checkout's code with the same harness (`git worktree add /tmp/before
<rev>`); code without batches has no follower lag beyond its own writes and ignores `--flush`.

    python benchmarks/mirror_share.py                       # 2 ms per call, flush 0 and 1
    python benchmarks/mirror_share.py --rtt-ms 5 --tasks 16 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Counts:
    batches: int = 0
    other_writes: int = 0
    write_seconds: float = 0.0
    lags: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)  # each task's, start to outcome


def instrument(counts: Counts) -> None:
    """Count every write transaction of the store (any version of it) and, where the run's writes are
    batched, each message's wait from being produced to being committed."""
    store = importlib.import_module("magentic_tasks.store")
    # The retry loop runs each transaction; older checkouts do not export `Database`.
    database = getattr(store, "Database", None) or importlib.import_module("magentic_tasks.store._connection").Database
    original = database._with_retries

    def with_retries(self: Any, work: Callable[[Any], Any], *, write: bool, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, work, write=write, **kwargs)
        finally:
            if write:
                counts.write_seconds += time.perf_counter() - started
                counts.other_writes += 1

    database._with_retries = with_retries
    try:
        writer_module = importlib.import_module("magentic_tasks.run._transcript_writer")
    except ImportError:
        return
    produced: dict[int, float] = {}  # id of a held message → when the team produced it
    add = writer_module.TranscriptWriter.add

    def stamped_add(self: Any, views: Any) -> None:
        now = time.monotonic()
        for view in views:
            produced[id(view)] = now
        add(self, views)

    write_batch = store.TaskStore.write_batch

    def counted_batch(self: Any, batch: Any) -> int:
        stored = write_batch(self, batch)
        now = time.monotonic()
        counts.batches += 1
        counts.other_writes -= 1
        counts.lags.extend(now - produced.pop(id(view), now) for view in batch.messages)
        return int(stored)

    writer_module.TranscriptWriter.add = stamped_add
    store.TaskStore.write_batch = counted_batch


async def run_tasks(args: argparse.Namespace, folder: Path, flush: float | None, counts: Counts) -> float:
    execution = importlib.import_module("magentic_tasks.run")
    schemas = importlib.import_module("magentic_tasks.schemas")
    settings_module = importlib.import_module("magentic_tasks.settings")
    from tests.support.model_server import Faults, Script, ScriptedModelServer

    limit = asyncio.Semaphore(args.concurrency)
    extra = {} if flush is None else {"MIRROR_FLUSH_SECONDS": flush}

    async def one(index: int) -> None:
        async with limit:
            # A server per task: the script counts ledgers over a server's lifetime.
            script = Script(rounds_before_satisfied=args.rounds - 1)
            with ScriptedModelServer(script, Faults(latency=args.latency)) as server:
                settings = settings_module.Settings(
                    OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-bench-0123456789abcdef",
                    TASKS_DB_PATH=str(folder / "tasks.db"), TASK_WORKSPACE_ROOT=str(folder / "ws"),
                    SQLITE_LOCKING="dotfile", MAX_TURNS=200, TASK_TIMEOUT_SECONDS=3600, **extra,
                )
                task = schemas.TaskInput(task_id=f"share-{index}-{uuid.uuid4().hex[:8]}", prompt="What is 6 * 7?",
                                         use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))
                began = time.perf_counter()
                outcome = await execution.execute_task(task, settings)
                counts.durations.append(time.perf_counter() - began)
                if outcome.status != "completed":
                    raise SystemExit(f"a task did not complete: {outcome.error}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.tasks)))
    return time.perf_counter() - started


@contextlib.contextmanager
def share(rtt: float) -> Iterator[tuple[Path, str]]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency_fs

    missing = latency_fs.available()
    if missing is not None:
        with tempfile.TemporaryDirectory(prefix="mirror-local-") as folder:
            yield Path(folder), f"a local folder ({missing})"
        return
    with latency_fs.mounted(rtt) as folder:
        yield folder, f"FUSE passthrough, +{rtt * 1000:g} ms per file call"


def measure(args: argparse.Namespace, flush: float | None) -> tuple[Counts, float, str]:
    counts = Counts()
    with share(args.rtt_ms / 1000) as (folder, kind):
        warm = argparse.Namespace(**{**vars(args), "tasks": 1, "concurrency": 1, "rounds": 1})
        asyncio.run(run_tasks(warm, folder / "warm", flush, Counts()))  # imports
        store = importlib.import_module("magentic_tasks.store")
        store.TaskStore(folder / "run" / "tasks.db", locking="dotfile").task_exists("warm-up")  # creates the schema
        instrument(counts)
        wall = asyncio.run(run_tasks(args, folder / "run", flush, counts))
    return counts, wall, kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="orchestrator rounds per task (default 5)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call (default 0.2)")
    parser.add_argument("--rtt-ms", type=float, default=2.0, help="added to every file call (default 2 ms)")
    parser.add_argument("--flush", default="0,1", help="MIRROR_FLUSH_SECONDS values (default 0,1)")
    parser.add_argument("--code", type=Path, help="measure this checkout's code instead (one configuration)")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # a single configuration, in-process
    args = parser.parse_args()
    code = (args.code or ROOT).resolve()
    if args.one is not None or args.code is not None:
        sys.path[:0] = [str(code), str(ROOT)]
        settings = importlib.import_module("magentic_tasks.settings")
        batched = "mirror_flush_seconds" in settings.Settings.model_fields
        counts, wall, kind = measure(args, args.one if batched else None)
        label = f"{args.one:g}" if batched and args.one is not None else "unbatched"
        report(args, label, counts, wall, kind, code)
        return
    import subprocess

    forwarded = [f"--tasks={args.tasks}", f"--concurrency={args.concurrency}", f"--rounds={args.rounds}",
                 f"--latency={args.latency}", f"--rtt-ms={args.rtt_ms}"]
    for flush in args.flush.split(","):  # each in a fresh interpreter: the store patches are per process
        subprocess.run([sys.executable, __file__, *forwarded, f"--one={flush}"], check=True)


def report(args: argparse.Namespace, label: str, counts: Counts, wall: float, kind: str, code: Path) -> None:
    n = args.tasks
    lag = (f"max {max(counts.lags):.2f} s, p95 {statistics.quantiles(counts.lags, n=20)[-1]:.2f} s"
           if len(counts.lags) > 1 else "as streamed (each message its own write)")
    print(f"code {code}, {kind}, dotfile locking; {n} tasks x {args.rounds} rounds, {args.concurrency} at a time, "
          f"{args.latency:g} s per model call")
    print(f"  MIRROR_FLUSH_SECONDS={label}: write transactions/task {(counts.batches + counts.other_writes) / n:.1f} "
          f"(batches {counts.batches / n:.1f}, others {counts.other_writes / n:.1f}); "
          f"time in writes/task {counts.write_seconds / n:.2f} s; task duration median "
          f"{statistics.median(counts.durations):.2f} s, all {args.tasks} in {wall:.2f} s; "
          f"follower lag {lag}")


if __name__ == "__main__":
    main()
