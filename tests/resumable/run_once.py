"""One run of a task in this process, for the equivalence tests: `python -m tests.resumable.run_once`.

Settings come from the environment (the scripted server, the SQLite file, the workspace root).
`--kill-after-round K` ends the process with `os._exit` right after the batch with round K's
checkpoint is committed (no cleanup, nothing flushed: as a killed worker); `--kill-in-round K` ends
it after the first model call of round K + 1 whose usage was written (a lost partial round; with
MIRROR_FLUSH_SECONDS=0, so that a call's usage is written as it completes). `--quick-settle`: the
WebSurfer waits for a page's load state after an action instead of autogen's 3 s (static local
pages). Prints the outcome as JSON, or exits with KILLED."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from magentic_tasks.run import execute_task
from magentic_tasks.schemas import TaskInput, TokenUsage
from magentic_tasks.settings import Settings
from magentic_tasks.store import Batch, TaskStore

KILLED = 17
TASK_ID = "resumable-1"
PROMPT = "What is 6 * 7?"


def arm(kill_after: int | None, kill_in: int | None) -> None:
    write = TaskStore.write_batch
    armed: list[int] = []  # the attempt's tokens at the checkpoint that armed the kill

    def tokens(usage: dict[str, TokenUsage]) -> int:
        return sum(u.prompt_tokens + u.completion_tokens for u in usage.values())

    def write_then_die(self: TaskStore, batch: Batch) -> int:
        stored = write(self, batch)
        round_ = None if batch.checkpoint is None else batch.checkpoint.round
        if round_ is not None and round_ == kill_after:
            os._exit(KILLED)
        if round_ is not None and round_ == kill_in:
            armed.append(tokens(batch.usage))
        elif armed and tokens(batch.usage) > armed[0]:  # a call of the next round completed, and was recorded
            os._exit(KILLED)
        return stored

    TaskStore.write_batch = write_then_die  # type: ignore[method-assign]


def quick_settle() -> None:
    from autogen_ext.agents.web_surfer.playwright_controller import PlaywrightController
    from playwright.async_api import Page

    async def settle(self: PlaywrightController, page: Page, duration: float) -> None:
        await page.wait_for_load_state()

    PlaywrightController.sleep = settle  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after-round", type=int)
    parser.add_argument("--kill-in-round", type=int)
    parser.add_argument("--quick-settle", action="store_true")
    args = parser.parse_args(argv)
    arm(args.kill_after_round, args.kill_in_round)
    if args.quick_settle:
        quick_settle()
    # Killing the process right after a call's usage is written needs every call written at once.
    settings = Settings(MIRROR_FLUSH_SECONDS=0) if args.kill_in_round is not None else Settings()
    task = TaskInput(task_id=TASK_ID, prompt=PROMPT, use_aoai=False, model_name="gpt-4o",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC))
    outcome: Any = asyncio.run(execute_task(task, settings))
    sys.stdout.write(outcome.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
