"""Benchmark the task mirror on a share-like filesystem: several instances, many tasks, one share.

`--processes` processes stand in for Function instances; they run `--tasks` tasks between them,
all at once, through `execute_task` as the activity does: the real team against a scripted model
server over HTTP (127.0.0.1), `--rounds` rounds each, `--latency` seconds per model call,
SQLITE_LOCKING=dotfile, the store on a FUSE passthrough that adds a round trip to every file call
(benchmarks/latency_fs.py, an SMB mount's round trips). For each value of `--rtt-ms` (0: a plain
local folder) it prints: the wall time of all tasks and each task's duration (median), their ratio
to the local run; write transactions per task on the file every instance shares (`tasks.db`: the
works handed to the store, and the transactions that carried them) and on the task's own files; the
follower lag (how long a message waited between the team producing it and its commit: max, p95);
the file calls per task; the load average; and whether every task's transcript, tokens and result
(as returned and as read back from the mirror) are identical, across tasks and across runs.

`--code PATH` measures another checkout's code with the same harness (`git worktree add /tmp/before
<rev>`); `--one-file` this code with every transcript in the shared file (a design measured and
dropped). Every figure comes from wrapping `sqlite3.connect` and the transcript writer, so it works
for any version of the store.

    python benchmarks/mirror_share.py                                    # 0, 2, 5, 14 ms; 32 tasks
    python benchmarks/mirror_share.py --rtt-ms 0,5 --tasks 16 --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib
import json
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import latency_fs  # noqa: E402

_start: Any = None  # the barrier every instance waits at, so that all of them start at once


def _init(barrier: Any, code: str) -> None:
    global _start
    _start = barrier
    sys.path[:0] = [code, str(ROOT)]


class _Counting(sqlite3.Connection):
    """Counts the transactions begun on each file (write: `BEGIN IMMEDIATE`), whatever the store's code."""

    counts: ClassVar[Counter[str]] = Counter()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.startswith("BEGIN"):
            kind = "shared" if self.file.endswith("/tasks.db") else "task"
            self.counts[f"{kind} {'write' if 'IMMEDIATE' in sql else 'read'}"] += 1
        return super().execute(sql, *args)


def _count_transactions() -> None:
    connect = sqlite3.connect

    def counting(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(database, *args, factory=_Counting, **kwargs)
        conn.file = str(database).split("?")[0]  # type: ignore[attr-defined]
        return conn

    sqlite3.connect = counting  # type: ignore[assignment]
    # The writes the code hands to the shared file (a transaction may carry several: group commit).
    database = importlib.import_module("magentic_tasks.store").Database
    for name in ("write", "submit"):
        if hasattr(database, name):
            original = getattr(database, name)

            def handed(self: Any, fn: Any, _original: Any = original) -> Any:
                if self.path.name == "tasks.db":
                    _Counting.counts["shared writes handed"] += 1
                return _original(self, fn)

            setattr(database, name, handed)


def _lags() -> list[float]:
    """Each message's wait from the team producing it to the commit of its batch (batched code only)."""
    lags: list[float] = []
    try:
        writer = importlib.import_module("magentic_tasks.run._transcript_writer").TranscriptWriter
    except ImportError:
        return lags
    store = importlib.import_module("magentic_tasks.store").TaskStore
    produced: dict[int, float] = {}
    add, write_batch = writer.add, store.write_batch

    def stamped_add(self: Any, views: Any) -> None:
        now = time.monotonic()
        produced.update((id(view), now) for view in views)
        add(self, views)

    def timed_batch(self: Any, batch: Any) -> int:
        stored = write_batch(self, batch)
        now = time.monotonic()
        lags.extend(now - produced.pop(id(view), now) for view in batch.messages)
        return int(stored)

    writer.add, store.write_batch = stamped_add, timed_batch
    return lags


def _waits() -> dict[str, float]:
    """Seconds the runs waited on the mirror: starting, at round boundaries (the checkpoint's batch),
    and ending (the last batch, the tokens of every attempt, the outcome)."""
    waited = {"start": 0.0, "rounds": 0.0, "end": 0.0}
    attempt = importlib.import_module("magentic_tasks.run._attempt")
    store = importlib.import_module("magentic_tasks.store").TaskStore

    def timed(owner: Any, name: str, key: str, blocking: bool) -> None:
        original = getattr(owner, name)

        async def waiting(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                waited[key] += time.perf_counter() - began
                if os.environ.get("MIRROR_SHARE_TRACE"):
                    print(f"{key} {name} {time.perf_counter() - began:.2f}", file=sys.stderr)

        def calling(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                waited[key] += time.perf_counter() - began
                if os.environ.get("MIRROR_SHARE_TRACE"):
                    print(f"{key} {name} {time.perf_counter() - began:.2f}", file=sys.stderr)

        setattr(owner, name, calling if blocking else waiting)

    timed(attempt, "start_attempt", "start", blocking=False)
    if hasattr(attempt, "first_attempt"):
        timed(attempt, "first_attempt", "start", blocking=False)
    timed(attempt.AttemptRecorder, "checkpoint", "rounds", blocking=False)
    ending = attempt
    with contextlib.suppress(ImportError):  # the end of a run has a module of its own now
        ending = importlib.import_module("magentic_tasks.run._outcome")
    timed(ending, "_usage_of_all_attempts", "end", blocking=False)
    timed(store, "save_outcome", "end", blocking=True)
    if hasattr(importlib.import_module("magentic_tasks.run._transcript_writer").TranscriptWriter, "close"):
        timed(importlib.import_module("magentic_tasks.run._transcript_writer").TranscriptWriter, "close", "end",
              blocking=False)
    return waited


def _digest(outcome: Any) -> str:
    """What must not differ between runs: transcript, tokens, result."""
    fields = {"status": outcome.status, "final_answer": outcome.final_answer, "stop_reason": outcome.stop_reason,
              "messages": [[m.source, m.type, m.content] for m in outcome.messages],
              "tokens": [outcome.prompt_tokens, outcome.completion_tokens],
              "usage": {a: u.model_dump() for a, u in sorted(outcome.usage_by_agent.items())}}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _one_file() -> None:
    """Every task's transcript in the shared file, as before per-task files (the rest of this code:
    group commit, kept connections, batches): the layout this change measured and dropped."""
    files = importlib.import_module("magentic_tasks.store._task_files").TaskFiles
    files._legacy_possible = lambda self, task_id, created_at: True
    original = files.write

    def in_shared(self: Any, task_id: str, *args: Any, **kwargs: Any) -> Any:
        self._in_shared[task_id] = True
        return original(self, task_id, *args, **kwargs)

    files.write = in_shared
    files.read = lambda self, task_id, fn: self.shared.read(fn)
    store = importlib.import_module("magentic_tasks.store").TaskStore
    start = store.start_attempt

    def with_its_row(self: Any, task: Any, at: Any) -> Any:  # the transcript's rows need the task's row first
        self.mark_running(task, at)
        return start(self, task, at)

    store.start_attempt = with_its_row


def instance(folder: str, tasks: int, rounds: int, latency: float, flush: float, index: int,
             one_file: bool = False) -> dict[str, Any]:
    """One instance's share of the load, run once the barrier lets every instance go."""
    if one_file:
        _one_file()
    run = importlib.import_module("magentic_tasks.run")
    schemas = importlib.import_module("magentic_tasks.schemas")
    settings_module = importlib.import_module("magentic_tasks.settings")
    store_module = importlib.import_module("magentic_tasks.store")
    from tests.support.model_server import Faults, Script, ScriptedModelServer

    root = Path(folder)
    ran: list[tuple[str, Any, Any]] = []

    async def one(n: int, settings_of: Any, durations: list[float], digests: list[str]) -> None:
        # A server per task: the script counts ledgers over a server's lifetime.
        with ScriptedModelServer(Script(rounds_before_satisfied=rounds - 1), Faults(latency=latency)) as server:
            settings = settings_of(server.base_url)
            task = schemas.TaskInput(task_id=f"i{index}-t{n}-{uuid.uuid4().hex[:8]}", prompt="What is 6 * 7?",
                                     use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))
            began = time.perf_counter()
            outcome = await run.execute_task(task, settings)
            durations.append(time.perf_counter() - began)
            ran.append((task.task_id, settings, outcome))

    def settings_for(db: Path) -> Any:
        return lambda url: settings_module.Settings(
            OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench-0123456789abcdef", TASKS_DB_PATH=str(db),
            TASK_WORKSPACE_ROOT=str(root / f"ws-{index}"), SQLITE_LOCKING="dotfile", MAX_TURNS=200,
            TASK_TIMEOUT_SECONDS=3600, MIRROR_FLUSH_SECONDS=flush,
        )

    async def all_tasks(count: int, settings_of: Any, durations: list[float], digests: list[str]) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(one(n, settings_of, durations, digests) for n in range(count)))
        return time.perf_counter() - started

    # Warm up (imports, the team's first build) on a file of this instance's own; then check the
    # shared file's schema, as an instance has done once it has run any task.
    asyncio.run(all_tasks(1, settings_for(root / f"warm-{index}" / "tasks.db"), [], []))
    _count_transactions()
    store_module.TaskStore.from_settings(settings_for(root / "run" / "tasks.db")("http://127.0.0.1:9")).task_exists(
        "warm-up")
    lags = _lags()
    waited = _waits()
    _Counting.counts.clear()
    durations: list[float] = []
    digests: list[str] = []
    _start.wait(timeout=600)
    wall = asyncio.run(all_tasks(tasks, settings_for(root / "run" / "tasks.db"), durations, digests))
    counts = dict(_Counting.counts)
    for task_id, settings, outcome in ran:  # read back once every task has finished (not counted)
        try:
            stored = store_module.TaskStore.from_settings(settings).get_task(task_id)
            held = None if stored is None else stored.outcome
            mirrored = "no result in the mirror" if held is None else _digest(held)
        except Exception as error:  # a figure to print, not a failure of the harness
            mirrored = f"mirror unreadable ({type(error).__name__})"
        digests.append(f"{_digest(outcome) if outcome.status == 'completed' else outcome.status}/{mirrored}")
    return {"wall": wall, "durations": durations, "digests": digests, "lags": lags, "counts": counts,
            "waited": waited}


@contextlib.contextmanager
def share(rtt_ms: float) -> Iterator[tuple[Path, str]]:
    if rtt_ms == 0:
        with tempfile.TemporaryDirectory(prefix="mirror-local-") as folder:
            yield Path(folder), "local folder"
        return
    missing = latency_fs.available()
    if missing is not None:
        raise SystemExit(f"no share-like filesystem here: {missing}")
    with latency_fs.mounted(rtt_ms / 1000) as folder:
        yield folder, f"+{rtt_ms:g} ms per file call"


def measure(args: argparse.Namespace, rtt_ms: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.processes + 1)
    shares = [args.tasks // args.processes + (i < args.tasks % args.processes) for i in range(args.processes)]
    with share(rtt_ms) as (folder, kind), ProcessPoolExecutor(
        args.processes, mp_context=ctx, initializer=_init, initargs=(barrier, str(args.code))
    ) as pool:
        futures = [pool.submit(instance, str(folder), n, args.rounds, args.latency, args.flush, i, args.one_file)
                   for i, n in enumerate(shares)]
        barrier.wait(timeout=600)  # every instance warmed up
        calls_before = latency_fs.round_trips(folder) if rtt_ms else 0
        load = os.getloadavg()[0]
        results = [future.result(timeout=args.timeout) for future in futures]
        calls = (latency_fs.round_trips(folder) - calls_before) if rtt_ms else 0
        load = max(load, os.getloadavg()[0])
    counts: Counter[str] = Counter()
    waited: Counter[str] = Counter()
    for result in results:
        counts.update(result["counts"])
        waited.update(result["waited"])
    lags = [lag for result in results for lag in result["lags"]]
    return {
        "kind": kind, "rtt": rtt_ms, "load": load, "wall": max(r["wall"] for r in results),
        "median": statistics.median(d for r in results for d in r["durations"]),
        "digests": sorted({d for r in results for d in r["digests"]}),
        "counts": {key: value / args.tasks for key, value in counts.items()},
        "lag_max": max(lags, default=0.0), "lag_p95": statistics.quantiles(lags, n=20)[-1] if len(lags) > 1 else 0.0,
        "calls": calls / args.tasks, "waited": {key: value / args.tasks for key, value in waited.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--processes", type=int, default=4, help="instances sharing the mount (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="orchestrator rounds per task (default 5)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call (default 1)")
    parser.add_argument("--rtt-ms", default="0,2,5,14", help="round trips to add per file call; 0 is local")
    parser.add_argument("--flush", type=float, default=1.0, help="MIRROR_FLUSH_SECONDS (default 1)")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds per run")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose code to measure")
    parser.add_argument("--one-file", action="store_true", help="transcripts in the shared file (a dropped design)")
    args = parser.parse_args()
    args.code = args.code.resolve()
    sys.path[:0] = [str(args.code), str(ROOT)]  # what the instances send back may name the code's classes
    print(f"code {args.code}; {args.tasks} tasks x {args.rounds} rounds over {args.processes} processes, all at "
          f"once; {args.latency:g} s per model call; dotfile locking; MIRROR_FLUSH_SECONDS={args.flush:g}")
    runs = [measure(args, float(rtt)) for rtt in args.rtt_ms.split(",")]
    local = next((run for run in runs if run["rtt"] == 0), None)
    every = {digest for run in runs for digest in run["digests"]}
    for run in runs:
        ratio = (f" ({run['wall'] / local['wall']:.2f}x / {run['median'] / local['median']:.2f}x local)"
                 if local is not None and run is not local else "")
        count = {key: f"{value:.1f}" for key, value in run["counts"].items()}
        print(f"{run['kind']:>22}: all in {run['wall']:6.2f} s, median task {run['median']:6.2f} s{ratio}; "
              f"per task: tasks.db {count.get('shared writes handed', '0')} writes in "
              f"{count.get('shared write', '0')} write tx and {count.get('shared read', '0')} read tx, own files "
              f"{count.get('task write', '0')} write / {count.get('task read', '0')} read tx, {run['calls']:.0f} file "
              f"calls; follower lag max {run['lag_max']:.2f} s, p95 {run['lag_p95']:.2f} s; load {run['load']:.1f}")
        waited = run["waited"]
        print(f"{'':>24}the run waited on the mirror per task: start {waited['start']:.2f} s, round boundaries "
              f"{waited['rounds']:.2f} s, end {waited['end']:.2f} s")
    same = len(every) == 1 and all(a == b for a, b in (d.split("/") for d in every))
    print(f"transcripts, tokens and results: {'identical' if same else 'NOT identical: ' + ', '.join(sorted(every))} "
          f"over {args.tasks} tasks x {len(runs)} runs, as returned and as read back")


if __name__ == "__main__":
    main()
