"""Instance throughput: a burst of tasks on one worker with host.json's activity cap, without a cap,
and one task alone; peak memory and memory per running task.

Each configuration runs in a fresh Python process, as one Functions worker would: the app's real
functions in `tests/support/durable_host.py`'s fake Durable host (which honours
`maxConcurrentActivityFunctions`), the real Magentic-One team talking HTTP to the scripted model
server (`--latency` seconds per call), the real SQLite mirror. Tasks are POSTed at once and the
clock stops when every orchestration has completed. Two warm-up tasks (imports, first-use costs)
run first; the resident set after them is the worker's baseline, and memory per running task is
(peak RSS - baseline) / peak team runs at once. Configurations are run `--repeat` times,
interleaved, and the shortest burst of each is compared: other load on the machine only adds time.

    python benchmarks/instance_throughput.py                       # 50 tasks, 0.2 s per model call
    python benchmarks/instance_throughput.py --limits 4,8,16,32    # also these caps
    python benchmarks/instance_throughput.py --rounds 20 --tasks 20 --limits 0   # memory of longer tasks
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

BUDGET_MB = 2048 - 512  # the smallest instance (2 GB, Flex default) less the Functions host and the OS


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


class CountingSlots:
    """The fake host's activity slots (its semaphore, or none), counting activities that hold one."""

    def __init__(self, inner: asyncio.Semaphore | None) -> None:
        self.inner = inner
        self.running = self.peak = 0

    async def __aenter__(self) -> None:
        if self.inner is not None:
            await self.inner.acquire()
        self.running += 1
        self.peak = max(self.peak, self.running)

    async def __aexit__(self, *exc: object) -> None:
        self.running -= 1
        if self.inner is not None:
            self.inner.release()


class EpisodeClock:
    """Wraps each orchestrator function: how many episodes (replays) ran and their total CPU time."""

    def __init__(self, host: Any) -> None:
        self.episodes, self.seconds = 0, 0.0
        for name, function in list(host.functions.orchestrators.items()):
            host.functions.orchestrators[name] = replace(function, user_function=self.timed(function.user_function))

    def timed(self, function: Any) -> Any:
        def episode(context: Any) -> Any:
            started = time.process_time()
            try:
                return function(context)
            finally:
                self.episodes += 1
                self.seconds += time.process_time() - started

        return episode


async def burst(host: Any, slots: CountingSlots, tasks: int, body: dict[str, Any]) -> dict[str, Any]:
    """POST `tasks` tasks at once; wall and CPU time until every orchestration has completed."""
    slots.peak = 0
    cpu, started = time.process_time(), time.perf_counter()
    responses = await asyncio.gather(*(host.call_http(("POST", "/tasks"), body=body) for _ in range(tasks)))
    ids = [json.loads(response.get_body())["task_id"] for response in responses]
    instances = await asyncio.gather(*(host.wait_for(task_id, timeout=900) for task_id in ids))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    outputs = [instance.status_json().get("output") or {} for instance in instances]
    failed = [output.get("error") for output in outputs if output.get("status") != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} tasks did not complete, e.g. {failed[0]}")
    return {"tasks": tasks, "wall": wall, "cpu": cpu, "peak_runs": slots.peak}


async def child(limit: int | None, tasks: int, latency: float, rounds: int) -> dict[str, Any]:
    """One worker: two warm-up tasks, one task alone, then the burst."""
    from http_load import app_environment, warm_imports

    import function_app
    from tests.support.durable_host import FakeDurableHost, HostSettings
    from tests.support.model_server import Faults, Script, ScriptedModelServer

    warm_imports()
    settings = HostSettings.from_host_json(ROOT / "host.json")
    if limit is not None:
        settings = replace(settings, max_concurrent_activities=limit or None)
    body = {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o"}
    # The script counts ledgers over the server's life: one server per phase.
    script = Script(rounds_before_satisfied=10**9 if rounds > 1 else 0)
    with tempfile.TemporaryDirectory(prefix="instance-throughput-") as scratch:
        server = ScriptedModelServer(script, Faults(latency=latency))
        with server, app_environment(server, Path(scratch)):
            if rounds > 1:
                import os

                from magentic_tasks.settings import get_settings

                os.environ["MAX_TURNS"] = str(rounds)  # the run ends with its final answer after `rounds`
                get_settings.cache_clear()
            async with FakeDurableHost(function_app.app, settings=settings, timer_scale=0) as host:
                slots = host._activity_slots = CountingSlots(host._activity_slots)
                episodes = EpisodeClock(host)
                await burst(host, slots, 2, body)
                one = await burst(host, slots, 1, body)
                gc.collect()
                baseline = rss_mb()
                episodes.episodes, episodes.seconds = 0, 0.0
                many = await burst(host, slots, tasks, body)
            calls = server.calls
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "limit": settings.max_concurrent_activities, "one": one, "many": many, "baseline_mb": baseline,
        "peak_mb": peak, "per_run_mb": (peak - baseline) / max(many["peak_runs"], 1), "model_calls": calls,
        "episodes_per_task": episodes.episodes / tasks,
        "episode_ms": episodes.seconds / max(episodes.episodes, 1) * 1000,
    }


def run_child(limit: int | None, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--tasks", str(args.tasks), "--latency", str(args.latency),
               "--rounds", str(args.rounds), "--child", "host" if limit is None else str(limit)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the worker for limit {limit} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the shortest burst (a neighbour's load only ever adds time), its memory the worst seen."""
    best = dict(min(runs, key=lambda row: row["many"]["wall"]))
    best["walls"] = sorted(row["many"]["wall"] for row in runs)
    best["peak_mb"] = max(row["peak_mb"] for row in runs)
    best["per_run_mb"] = max(row["per_run_mb"] for row in runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50, help="tasks in the burst (default 50)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the model takes per call (default 0.2)")
    parser.add_argument("--rounds", type=int, default=1, help="orchestrator rounds per task (default 1: 4 calls)")
    parser.add_argument("--limits", default="", help="more activity caps to measure, comma-separated (0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration, interleaved (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        limit = None if args.child == "host" else int(args.child)
        print(json.dumps(asyncio.run(child(limit, args.tasks, args.latency, args.rounds))))
        return
    extra = [int(value) for value in args.limits.split(",") if value.strip()]
    limits: list[int | None] = [None, *(value for value in extra if value != 0), 0]
    runs: list[list[dict[str, Any]]] = [[] for _ in limits]
    for _ in range(args.repeat):
        for i, limit in enumerate(limits):
            runs[i].append(run_child(limit, args))
    rows = [best_of(found) for found in runs]
    uncapped = rows[-1]["many"]["wall"]
    print(f"burst of {args.tasks} tasks, {args.rounds} round(s) each, model {args.latency:g} s/call, one worker; "
          f"best of {args.repeat} runs (all walls in brackets)")
    print(f"{'activity cap':>16} {'wall s':>7} {'/uncapped':>10} {'1 task s':>9} {'peak runs':>10} "
          f"{'CPU s/task':>11} {'base MB':>8} {'peak MB':>8} {'MB/run':>7}  walls")
    for limit, row in zip(limits, rows, strict=True):
        many = row["many"]
        name = "none" if not row["limit"] else str(row["limit"])
        name += " (host.json)" if limit is None else ""
        print(f"{name:>16} {many['wall']:7.2f} {many['wall'] / uncapped:10.2f} {row['one']['wall']:9.2f} "
              f"{many['peak_runs']:10d} {many['cpu'] / many['tasks']:11.3f} {row['baseline_mb']:8.0f} "
              f"{row['peak_mb']:8.0f} {row['per_run_mb']:7.2f}  [{', '.join(f'{w:.1f}' for w in row['walls'])}]")
    host = rows[0]
    per_run = max(row["per_run_mb"] for row in rows)
    print(f"orchestrator: {host['episodes_per_task']:.1f} episodes per task, {host['episode_ms']:.1f} ms CPU each")
    print(f"host.json cap: {host['many']['wall'] / uncapped:.2f}x the uncapped wall time (goal: at most 1.30x)")
    print(f"memory budget {BUDGET_MB} MB (2 GB instance less 512 MB for the host): the host.json cap needs about "
          f"{host['baseline_mb'] + (host['limit'] or args.tasks) * per_run:.0f} MB "
          f"(baseline {host['baseline_mb']:.0f} + cap x {per_run:.2f} MB per running task)")

if __name__ == "__main__":
    main()
