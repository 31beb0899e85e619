"""Benchmark how fast `POST /tasks/{id}/cancel` stops a running task.

Each run starts a task that never finishes on its own (the scripted model never says the request is
satisfied) against the scripted model server with `--latency` seconds per model call, lets it run
for a random moment (so the cancel lands mid-model-call or between calls), cancels it through the
registered HTTP function, and measures, from the cancel request:

- to the run's stop check seeing it (at most `--poll` seconds);
- to the end of the last model call (answered, or abandoned by the client: the server watches for
  hang-ups), and whether any call started after the cancel was seen (should be none);
- to `GET /tasks/{id}` saying `cancelled` (immediate: Durable state says so at once);
- to the run having recorded its own outcome (the activity returned: transcript and tokens kept).

The app runs in `tests/support/durable_host.py`'s fake Durable host, the team for real, SQLite for
real, as in the e2e tests. Prints p50/p95 over `--runs`; asserts nothing.

    python benchmarks/cancel_latency.py --runs 20 --poll 2 --latency 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.settings import get_settings  # noqa: E402
from tests.support.durable_host import FakeDurableHost  # noqa: E402
from tests.support.model_server import Faults, Script, ScriptedModelServer  # noqa: E402

BODY = {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o"}
SEEN: dict[str, float] = {}  # task id -> when its run's stop check first saw the cancel


def record_when_the_run_sees_the_cancel() -> None:
    import activities.run_task as run_task
    from magentic_tasks.run import StopCheck

    original = run_task.terminated

    def terminated(client: object, instance_id: str) -> StopCheck:
        check = original(client, instance_id)  # type: ignore[arg-type]

        async def recording() -> str | None:
            reason = await check()
            if reason:
                SEEN.setdefault(instance_id, time.monotonic())
            return reason

        return recording

    run_task.terminated = terminated  # type: ignore[assignment]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_run(host: FakeDurableHost, server: ScriptedModelServer, run_for: float) -> dict[str, float]:
    created = await host.call_http(("POST", "/tasks"), body=BODY)
    task_id = json.loads(created.get_body())["task_id"]
    await asyncio.sleep(run_for)
    before = len(server.requests)
    cancelled_at = time.monotonic()
    response = await host.call_http("cancel_task", route_params={"task_id": task_id})
    assert response.status_code == 202, response.get_body()
    status = ""
    while status != "cancelled":
        status = json.loads((await host.call_http("get_task_status", route_params={"task_id": task_id})).get_body())[
            "status"
        ]
    to_status = time.monotonic() - cancelled_at
    await host.wait_idle(timeout=60)
    to_recorded = time.monotonic() - cancelled_at
    calls = server.requests
    ended = [r.ended_at for r in calls if r.ended_at is not None]
    seen = SEEN.get(task_id, float("inf"))
    return {
        "to_seen_by_run": seen - cancelled_at,
        "to_last_model_call": max(ended) - cancelled_at if ended else 0.0,
        "to_status": to_status,
        "to_recorded": to_recorded,
        "calls_started_after_cancel": float(sum(r.received_at > cancelled_at for r in calls[before:])),
        "calls_started_after_seen": float(sum(r.received_at > seen for r in calls[before:])),
    }


async def main(runs: int, poll: float, latency: float, workdir: Path) -> None:
    faults = Faults(latency=latency, notice_hangups=True)
    with ScriptedModelServer(Script(rounds_before_satisfied=10_000), faults) as server:
        os.environ.update({
            "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-bench-0123456789abcdef",
            "TASKS_DB_PATH": str(workdir / "tasks.db"), "TASK_WORKSPACE_ROOT": str(workdir / "workspaces"),
            "CANCEL_POLL_SECONDS": str(poll), "MAX_TURNS": "200", "NO_PROXY": "127.0.0.1,localhost",
        })
        get_settings.cache_clear()
        import function_app
        import magentic_tasks.run  # noqa: F401  (autogen's import cost, before the clock)

        record_when_the_run_sees_the_cancel()

        results = []
        async with FakeDurableHost(function_app.app, host_json=ROOT / "host.json", timer_scale=0) as host:
            for _ in range(runs):
                results.append(await one_run(host, server, random.uniform(0.5, 3 * latency + 0.5)))
    print(f"{runs} runs, CANCEL_POLL_SECONDS={poll:g}, model latency {latency:g} s per call")
    for key in ("to_seen_by_run", "to_last_model_call", "to_status", "to_recorded"):
        values = [r[key] for r in results]
        print(f"  cancel request -> {key[3:]:<16} p50 {statistics.median(values):6.3f} s   "
              f"p95 {percentile(values, 95):6.3f} s   max {max(values):6.3f} s")
    after_request = sum(r["calls_started_after_cancel"] for r in results)
    after_seen = sum(r["calls_started_after_seen"] for r in results)
    print(f"  model calls started after the cancel request (before the run's next poll): {after_request:g}")
    print(f"  model calls started after the run saw the cancel: {after_seen:g} (over all runs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--poll", type=float, default=2.0, help="CANCEL_POLL_SECONDS")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.runs, args.poll, args.latency, Path(tmp)))
