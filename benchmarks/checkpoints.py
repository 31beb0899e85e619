"""Benchmark round checkpoints: what resuming saves, what a checkpoint weighs, what it costs.

Runs the real team in this process against the scripted model server (real HTTP) with a real
SQLite file, through `execute_task` / `execute_slice` as the activity does, and prints:

1. model calls and tokens saved by resuming after each round k of a scripted run, against
   starting over (what the run had spent when checkpoint k was committed);
2. checkpoint bytes per round for a short and a long run (the saved team state, JSON);
3. wall-time overhead of checkpointing: the same run through `run_team` with and without a
   checkpoint sink, interleaved `--repeats` times, median ratio;
4. a run in three slices (each its own `execute_slice`, the next one claiming the checkpoint, as
   the orchestrator's continue-as-new drives them) against one uninterrupted run.

    python benchmarks/checkpoints.py --short 3 --long 20 --repeats 5
Asserts nothing; prints one table per question.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.redaction import Redactor  # noqa: E402
from magentic_tasks.run import RoundBoundary, execute_slice, execute_task, run_team  # noqa: E402  # noqa: E402
from magentic_tasks.schemas import MessageView, RunPaused, TaskInput  # noqa: E402
from magentic_tasks.settings import Settings  # noqa: E402
from magentic_tasks.store import Batch, Checkpoint, TaskStore  # noqa: E402
from tests.support.model_server import Script, ScriptedModelServer  # noqa: E402

PROMPT = "What is 6 * 7?"


def task(task_id: str) -> TaskInput:
    return TaskInput(task_id=task_id, prompt=PROMPT, use_aoai=False, model_name="gpt-4o",
                     created_at=datetime.now(UTC))


def settings_for(server: ScriptedModelServer, folder: Path, **values: Any) -> Settings:
    return Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-bench-0123456789",
                    TASKS_DB_PATH=str(folder / "tasks.db"), TASK_WORKSPACE_ROOT=str(folder / "ws"),
                    MAX_TURNS=200, TASK_TIMEOUT_SECONDS=3600, **values)


class Recording(TaskStore):
    """The store, noting at each checkpoint its size and what the server had served by then."""

    def __init__(self, path: Path, server: ScriptedModelServer) -> None:
        super().__init__(path)
        self.server = server
        self.rounds: list[tuple[int, int, int]] = []  # (bytes, calls, tokens) per checkpoint

    def write_batch(self, batch: Batch) -> int:
        """Runs save a round's checkpoint in the batch that carries the round's messages."""
        written = super().write_batch(batch)
        if batch.checkpoint is not None:
            size = len(json.dumps(batch.checkpoint.state, separators=(",", ":")).encode())
            self.rounds.append((size, self.server.calls, self.server.served.total))
        return written


async def recorded_run(rounds: int, folder: Path) -> tuple[Recording, int, int]:
    with ScriptedModelServer(Script(rounds_before_satisfied=rounds)) as server:
        store = Recording(folder / "tasks.db", server)
        outcome = await execute_task(task(f"bench-{rounds}"), settings_for(server, folder), store=store)
        assert outcome.status == "completed", outcome.error
        return store, server.calls, server.served.total


async def savings(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, calls, tokens = await recorded_run(rounds, Path(tmp))
    print(f"\n1. Resuming after round k of a {rounds}-round run ({calls} calls, {tokens} tokens in all)")
    print("   k | calls saved | tokens saved | share of the run's tokens")
    for k, (_, at_calls, at_tokens) in enumerate(store.rounds, 1):
        print(f"  {k:2d} | {at_calls:11d} | {at_tokens:12d} | {at_tokens / tokens:6.1%}")


async def sizes(short: int, long: int) -> None:
    print("\n2. Checkpoint bytes per round (the team's saved state, JSON)")
    for rounds in (short, long):
        with tempfile.TemporaryDirectory() as tmp:
            store, _, _ = await recorded_run(rounds, Path(tmp))
        sizes = [size for size, _, _ in store.rounds]
        print(f"   {rounds}-round run: " + ", ".join(f"{s / 1024:.1f}" for s in sizes) + " KB"
              f"  (first {sizes[0]} B, last {sizes[-1]} B, total written {sum(sizes) / 1024:.0f} KB)")


async def overhead(rounds: int, repeats: int) -> None:
    with ScriptedModelServer(Script(rounds_before_satisfied=rounds)) as server, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = settings_for(server, folder)
        store = TaskStore(folder / "tasks.db")
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(repeats):
            for checkpointing in (False, True):
                one = task(f"overhead-{i}-{checkpointing}")
                attempt = store.begin_attempt(one, one.created_at)

                async def save(boundary: RoundBoundary, one: TaskInput = one, attempt: int = attempt) -> bool:
                    store.save_checkpoint(Checkpoint(
                        task_id=one.task_id, attempt=attempt, round=boundary.rounds, messages=boundary.messages,
                        state=dict(boundary.state), usage_by_agent={}, elapsed=boundary.elapsed,
                        deadline=one.created_at, held_by="bench", saved_at=datetime.now(UTC)), {})
                    return True

                async def sink(views: list[MessageView]) -> None:
                    return None

                started = time.perf_counter()
                report = await run_team(one, settings, sink, workspace=folder / "ws" / one.task_id,
                                        redact=Redactor(()), checkpoint=save if checkpointing else None)
                times[checkpointing].append(time.perf_counter() - started)
                assert report.status == "completed", report.error
    plain, saved = statistics.median(times[False]), statistics.median(times[True])
    print(f"\n3. Overhead of checkpointing a {rounds}-round run (median of {repeats}, interleaved)")
    print(f"   without: {plain * 1000:.0f} ms   with: {saved * 1000:.0f} ms   ratio: {saved / plain:.3f}")


async def slices() -> None:
    rounds = 2  # a pause after each of the two rounds: three slices

    async def timed(sliced: bool) -> tuple[float, int, Any, int]:
        # One server each: the scripted ledger count runs on over a server's life.
        with ScriptedModelServer(Script(rounds_before_satisfied=rounds)) as server, \
                tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(server, Path(tmp), SLICE_SECONDS=0.001)
            one, count, started = task("sliced" if sliced else "whole"), 0, time.perf_counter()
            while True:
                count += 1
                result = await (execute_slice(one, settings) if sliced else execute_task(one, settings))
                if not isinstance(result, RunPaused):
                    return time.perf_counter() - started, server.calls, result, count
                one = one.model_copy(update={"resume": result.resume})

    whole_time, whole_calls, whole, _ = await timed(False)
    sliced_time, sliced_calls, result, count = await timed(True)
    same = [m.content for m in result.messages] == [m.content for m in whole.messages]
    print(f"\n4. {count} slices against one uninterrupted run ({rounds} rounds)")
    print(f"   one run: {whole_time * 1000:.0f} ms, {whole_calls} calls, {whole.prompt_tokens} prompt tokens")
    print(f"   {count} slices: {sliced_time * 1000:.0f} ms, {sliced_calls} calls, {result.prompt_tokens} prompt tokens,"
          f" attempts {result.attempts}, same transcript: {same}")


async def main(args: argparse.Namespace) -> None:
    await savings(args.short + 2)
    await sizes(args.short, args.long)
    await overhead(args.short + 2, args.repeats)
    await slices()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=3)
    parser.add_argument("--long", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
