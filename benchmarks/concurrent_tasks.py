"""Benchmark team runs sharing one worker event loop: N tasks at once against one task alone.

Each task is `magentic_tasks.run.execute_task` (the activity's logic): the real Magentic-One
team, the real OpenAI client over HTTP to the scripted model server (`tests/support/model_server.py`)
which sleeps `--latency` seconds before every answer, and the real SQLite mirror. The script has the
first progress ledger say the request is satisfied, so every task makes the same 4 model calls
(facts, plan, ledger, final answer).

If the runs overlap, N tasks take about one task's wall time plus the CPU they need; one after
another they would take N times as long. The table shows both, the speed-up over that serial
estimate and the ratio of N-task to 1-task wall time.

    python benchmarks/concurrent_tasks.py                 # 50 tasks, 0.5 s per model call
    python benchmarks/concurrent_tasks.py --tasks 100 --latency 1 --db /tmp/bench.db
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.run import execute_task  # noqa: E402
from magentic_tasks.schemas import RunOutcome, TaskInput  # noqa: E402
from magentic_tasks.settings import Settings  # noqa: E402
from magentic_tasks.store import TaskStore  # noqa: E402
from tests.support.model_server import Faults, Script, ScriptedModelServer  # noqa: E402

PROMPT = "What is 6 * 7?"
SCRIPT = Script(rounds_before_satisfied=0)  # facts, plan, one (satisfied) ledger, final answer


@dataclass(frozen=True)
class Measurement:
    tasks: int
    wall: float
    calls: int
    outcomes: list[RunOutcome]

    @property
    def calls_per_task(self) -> float:
        return self.calls / self.tasks


def task_settings(server: ScriptedModelServer, db: Path, workspaces: Path) -> Settings:
    return Settings(
        OPENAI_BASE_URL=server.base_url,
        OPENAI_API_KEY="sk-bench-0123456789abcdef",
        TASKS_DB_PATH=str(db),
        TASK_WORKSPACE_ROOT=str(workspaces),
        MODEL_TIMEOUT_SECONDS=120,
    )


def new_task() -> TaskInput:
    return TaskInput(
        task_id=f"bench-{uuid.uuid4().hex[:12]}",
        prompt=PROMPT,
        use_aoai=False,
        model_name="gpt-4o",
        created_at=datetime.now(UTC),
    )


async def run_at_once(count: int, server: ScriptedModelServer, settings: Settings) -> Measurement:
    """`count` tasks started together in this event loop; their wall time and model calls."""
    store = TaskStore.from_settings(settings)
    calls_before = server.calls
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(execute_task(new_task(), settings, store=store) for _ in range(count)))
    wall = time.perf_counter() - started
    return Measurement(count, wall, server.calls - calls_before, list(outcomes))


async def compare(tasks: int, latency: float, db: Path) -> tuple[Measurement, Measurement]:
    """One warm-up task (imports, schema), then one task alone, then `tasks` tasks at once."""
    with ScriptedModelServer(SCRIPT, Faults(latency=latency)) as server:
        settings = task_settings(server, db, db.parent / "workspaces")
        await run_at_once(1, server, settings)
        one = await run_at_once(1, server, settings)
        many = await run_at_once(tasks, server, settings)
    for outcome in one.outcomes + many.outcomes:
        if outcome.status != "completed":
            raise SystemExit(f"a task did not complete: {outcome.error}")
    return one, many


def print_table(one: Measurement, many: Measurement, latency: float) -> None:
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = f"{'tasks':>6} {'latency/call':>13} {'calls/task':>11} {'wall s':>8} {'serial est. s':>14} {'speed-up':>9}"
    print(header)
    for m in (one, many):
        serial = one.wall * m.tasks
        print(
            f"{m.tasks:6d} {latency:12.3f}s {m.calls_per_task:11.1f} {m.wall:8.2f} {serial:14.2f} "
            f"{serial / m.wall:8.1f}x"
        )
    print(f"ratio {many.tasks}-task wall / 1-task wall: {many.wall / one.wall:.2f} (serial would be {many.tasks})")
    model_wait = one.calls_per_task * latency
    print(f"one task: {model_wait:.2f} s waiting on the model, {one.wall - model_wait:.2f} s of its own")
    print(f"peak RSS {rss_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50, help="tasks run at once (default 50)")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the model server sleeps per call")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: in a temp folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="concurrent-tasks-") as scratch:
        db = args.db or Path(scratch) / "tasks.db"
        one, many = asyncio.run(compare(args.tasks, args.latency, db))
    print_table(one, many, args.latency)


if __name__ == "__main__":
    main()
