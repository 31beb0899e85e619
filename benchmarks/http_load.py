"""Benchmark the HTTP API under load: many concurrent `POST /tasks`, then polling until all are final.

Runs the app's registered functions inside `tests/support/durable_host.py`'s fake Durable host
(orchestrator replayed, activity run for real) with the real Magentic-One team talking HTTP to the
scripted model server (`tests/support/model_server.py`), and the real SQLite mirror. Everything
shares one event loop, as one Python worker would. The host honours host.json's
`maxConcurrentActivityFunctions` unless `--max-activities` overrides it (0: unlimited).

Prints requests per second, p50/p95 latency of `POST` and `GET`, the time until every task is
final, the peak number of team runs at once and `PRAGMA integrity_check`. The activity's lazy
imports (autogen, the openai SDK) are paid before the clock starts.

    python benchmarks/http_load.py
    python benchmarks/http_load.py --tasks 200 --latency 0.05 --max-activities 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.settings import get_settings  # noqa: E402
from magentic_tasks.store import TaskStore  # noqa: E402
from tests.support.durable_host import FakeDurableHost, HostSettings  # noqa: E402
from tests.support.model_server import Faults, Script, ScriptedModelServer  # noqa: E402

BODY = {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o"}


@dataclass
class LoadReport:
    tasks: int
    max_activities: int | None
    post_seconds: list[float] = field(default_factory=list)
    get_seconds: list[float] = field(default_factory=list)
    post_wall: float = 0.0
    to_all_final: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    final: dict[str, str] = field(default_factory=dict)
    model_calls: int = 0
    peak_runs: int = 0
    last_run_done: float = 0.0
    integrity: str = ""


@contextlib.contextmanager
def app_environment(server: ScriptedModelServer, workdir: Path) -> Iterator[None]:
    """The settings the app reads: the scripted server as its OpenAI endpoint, files under `workdir`."""
    values = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-load-0123456789abcdef",
        "TASKS_DB_PATH": str(workdir / "tasks.db"),
        "TASK_WORKSPACE_ROOT": str(workdir / "workspaces"),
        "MODEL_TIMEOUT_SECONDS": "60",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def warm_imports() -> None:
    """Pay the activity's lazy imports (autogen, the openai SDK's resources: several seconds) up front.

    A worker pays them once, on its first activity, with its event loop blocked meanwhile; left in,
    they would show up as seconds of latency on whichever requests were in flight at that moment."""
    import openai

    from magentic_tasks import run  # noqa: F401

    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    assert client.beta.chat.completions is not None and client.chat.completions is not None


def team_runs(db: Path) -> tuple[int, datetime | None]:
    """From the attempts the activity recorded: the most team runs at one moment, and when the last ended."""
    rows = []
    for file in [db, *(db.parent / "tasks").glob("*/*.db")]:  # each task's own file; the shared one before them
        with contextlib.closing(sqlite3.connect(file)) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'attempts'").fetchone():
                rows += conn.execute("SELECT started_at, finished_at FROM attempts WHERE finished_at IS NOT NULL")
    spans = [(datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in rows]
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak, max((end for _, end in spans), default=None)


async def drive(host: FakeDurableHost, tasks: int, poll_interval: float, deadline: float) -> LoadReport:
    """POST `tasks` tasks at once, then poll each task's status and result until it is final."""
    report = LoadReport(tasks, host.settings.max_concurrent_activities)
    loop = asyncio.get_running_loop()

    def count(kind: str, status: int) -> None:
        key = f"{kind} {status}"
        report.statuses[key] = report.statuses.get(key, 0) + 1

    async def post() -> str:
        started = loop.time()
        response = await host.call_http(("POST", "/tasks"), body=BODY)
        report.post_seconds.append(loop.time() - started)
        count("POST", response.status_code)
        return str(json.loads(response.get_body())["task_id"]) if response.status_code == 202 else ""

    async def get(path: str) -> tuple[int, dict[str, object]]:
        started = loop.time()
        response = await host.call_http(("GET", path))
        report.get_seconds.append(loop.time() - started)
        count("GET", response.status_code)
        return response.status_code, json.loads(response.get_body() or b"{}")

    async def poll(task_id: str) -> None:
        while loop.time() < deadline:
            _, (code, result) = await asyncio.gather(get(f"/tasks/{task_id}"), get(f"/tasks/{task_id}/result"))
            if code == 200:
                report.final[task_id] = str(result["status"])
                return
            await asyncio.sleep(poll_interval)

    began = loop.time()
    ids = await asyncio.gather(*(post() for _ in range(tasks)))
    report.post_wall = loop.time() - began
    await asyncio.gather(*(poll(task_id) for task_id in set(ids) if task_id))
    report.to_all_final = loop.time() - began
    return report


async def run_load(
    tasks: int, latency: float, poll_interval: float, max_activities: int | None, workdir: Path
) -> LoadReport:
    import function_app

    warm_imports()
    settings = HostSettings.from_host_json(ROOT / "host.json")
    if max_activities is not None:
        settings = replace(settings, max_concurrent_activities=max_activities or None)
    server = ScriptedModelServer(Script(rounds_before_satisfied=0), Faults(latency=latency))
    with server, app_environment(server, workdir):
        async with FakeDurableHost(function_app.app, settings=settings, timer_scale=0) as host:
            deadline = asyncio.get_running_loop().time() + 600
            began = datetime.now(UTC)
            report = await drive(host, tasks, poll_interval, deadline)
            await host.wait_idle(timeout=30)
        report.model_calls = server.calls
    db = workdir / "tasks.db"
    report.integrity = TaskStore(db).integrity_check()
    report.peak_runs, last = team_runs(db)
    report.last_run_done = (last - began).total_seconds() if last is not None else 0.0
    return report


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else sum(values)


def print_report(report: LoadReport, latency: float) -> None:
    limit = report.max_activities or "unlimited"
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    requests = len(report.post_seconds) + len(report.get_seconds)
    done = {s: list(report.final.values()).count(s) for s in sorted(set(report.final.values()))}
    print(f"tasks {report.tasks}, model latency {latency:g} s/call, maxConcurrentActivityFunctions {limit}")
    print(f"{'':6} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, seconds, wall in (
        ("POST", report.post_seconds, report.post_wall),
        ("GET", report.get_seconds, report.to_all_final - report.post_wall),
    ):
        rate = len(seconds) / wall if wall > 0 else 0.0
        print(
            f"{name:6} {len(seconds):9d} {rate:8.1f} {percentile(seconds, 50) * 1000:8.1f} "
            f"{percentile(seconds, 95) * 1000:8.1f} {max(seconds, default=0) * 1000:8.1f}"
        )
    print(f"all requests: {requests} in {report.to_all_final:.2f} s ({requests / report.to_all_final:.1f} req/s)")
    print(
        f"POST phase {report.post_wall:.2f} s; last team run done after {report.last_run_done:.2f} s; "
        f"all seen final after {report.to_all_final:.2f} s: {done}"
    )
    print(f"responses {dict(sorted(report.statuses.items()))}")
    print(f"model calls {report.model_calls}; peak team runs at once {report.peak_runs}; peak RSS {rss_mb:.0f} MB")
    print(f"integrity_check: {report.integrity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200, help="tasks POSTed at once (default 200)")
    parser.add_argument("--latency", type=float, default=0.0, help="scripted model latency per call, seconds")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between one task's polls (default 1)")
    parser.add_argument(
        "--max-activities",
        type=int,
        default=None,
        help="activities run at once (default: host.json's maxConcurrentActivityFunctions; 0: unlimited)",
    )
    parser.add_argument("--db-dir", type=Path, default=None, help="folder for tasks.db (default: a temp folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="http-load-") as scratch:
        workdir = args.db_dir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        report = asyncio.run(run_load(args.tasks, args.latency, args.poll_interval, args.max_activities, workdir))
    print_report(report, args.latency)
    print(f"(process wall time {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
