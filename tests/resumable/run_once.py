"""One run of a task in this process, for the equivalence tests: `python -m tests.resumable.run_once`.

Settings come from the environment (the scripted server, the SQLite file, the workspace root).
`--kill-after-round K` ends the process with `os._exit` right after round K's checkpoint is
committed (no cleanup, nothing flushed: as a killed worker); `--kill-in-round K` ends it after the
first model call of round K + 1 whose usage was recorded (a lost partial round). Prints the outcome
as JSON, or exits with KILLED."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from magentic_tasks.execution import execute_task
from magentic_tasks.schemas import TaskInput, TokenUsage
from magentic_tasks.settings import Settings
from magentic_tasks.store import Checkpoint, TaskStore

KILLED = 17
TASK_ID = "resumable-1"
PROMPT = "What is 6 * 7?"


def arm(kill_after: int | None, kill_in: int | None) -> None:
    save, record = TaskStore.save_checkpoint, TaskStore.record_usage
    armed: list[int] = []  # the attempt's tokens at the checkpoint that armed the kill

    def tokens(usage: dict[str, TokenUsage]) -> int:
        return sum(u.prompt_tokens + u.completion_tokens for u in usage.values())

    def save_then_die(self: TaskStore, checkpoint: Checkpoint, usage: dict[str, TokenUsage]) -> int:
        size = save(self, checkpoint, usage)
        if checkpoint.round == kill_after:
            os._exit(KILLED)
        if checkpoint.round == kill_in:
            armed.append(tokens(usage))
        return size

    def record_then_die(self: TaskStore, task_id: str, attempt: int, usage: dict[str, TokenUsage]) -> None:
        record(self, task_id, attempt, usage)
        if armed and tokens(usage) > armed[0]:  # a call of the next round completed, and was recorded
            os._exit(KILLED)

    TaskStore.save_checkpoint = save_then_die  # type: ignore[method-assign,assignment]
    TaskStore.record_usage = record_then_die  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after-round", type=int)
    parser.add_argument("--kill-in-round", type=int)
    args = parser.parse_args(argv)
    arm(args.kill_after_round, args.kill_in_round)
    settings = Settings()
    task = TaskInput(task_id=TASK_ID, prompt=PROMPT, use_aoai=False, model_name="gpt-4o",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC))
    outcome: Any = asyncio.run(execute_task(task, settings))
    sys.stdout.write(outcome.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
