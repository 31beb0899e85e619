"""`python -m magentic_tasks run "prompt"`: one task through the activity's own path, without the host.

The task runs through `run.execute_task` (SQLite mirror included, at TASKS_DB_PATH), with the
settings from the environment. Each message is printed once the store holds it (a batch a round, or
a second: MIRROR_FLUSH_SECONDS), with the round and the tokens spent so far; then the final answer.
`--json` prints one JSON document instead. Exit codes: 0 completed, 1 failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from autogen_core.models import ChatCompletionClient, CreateResult
from pydantic import ValidationError

from .clock import utc_now
from .errors import ConfigurationError, TaskRunError
from .run import MeteredClient, UsageMeter, build_model_client, execute_task
from .schemas import MessageView, RunOutcome, TaskCreate, TaskInput
from .settings import Settings
from .store import Batch, TaskStore

EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ORCHESTRATOR = "MagenticOneOrchestrator"


class UsageError(Exception):
    """Bad arguments or configuration: exit 2 with this message."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m magentic_tasks", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one task and print its progress and answer")
    run.add_argument("prompt", help="the task for the team")
    run.add_argument("--model", help="model name (the deployment name for Azure OpenAI); default DEFAULT_MODEL_NAME")
    provider = run.add_mutually_exclusive_group()
    provider.add_argument("--azure", dest="use_aoai", action="store_const", const=True, help="use Azure OpenAI")
    provider.add_argument(
        "--openai", dest="use_aoai", action="store_const", const=False, help="use OpenAI or a compatible server"
    )
    run.add_argument("--json", action="store_true", help="print one JSON document (for scripts) instead of progress")
    return root


class Progress:
    """Prints each message as it arrives: its round, source and the tokens spent so far."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.round = 0
        self.orchestrator_messages = 0
        self.tokens: tuple[int, int] = (0, 0)

    def messages(self, views: Sequence[MessageView]) -> None:
        for view in views:
            if view.source == ORCHESTRATOR:
                # The first orchestrator message is the plan; each later one ends a progress-ledger
                # round (an instruction to an agent, or the final answer).
                self.orchestrator_messages += 1
                self.round = max(self.orchestrator_messages - 1, 0)
            if self.out is not None:
                prompt, completion = self.tokens
                content = view.content if view.type != "base64_image" else f"<image, {len(view.content)} base64 chars>"
                header = f"── round {self.round} · {view.source} · {prompt + completion} tokens ({prompt}+{completion})"
                print(f"{header}\n{content}\n", file=self.out, flush=True)


class ProgressStore(TaskStore):
    """The SQLite mirror, telling `Progress` about each batch of messages once it is stored."""

    def __init__(self, settings: Settings, progress: Progress) -> None:
        super().__init__(
            settings.tasks_db_path, locking=settings.sqlite_locking, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        self.progress = progress

    def write_batch(self, batch: Batch) -> int:
        stored = super().write_batch(batch)
        self.progress.messages(batch.messages)
        return stored


def build_task(args: argparse.Namespace, settings: Settings) -> TaskInput:
    use_aoai = args.use_aoai
    if use_aoai is None:  # whichever provider is configured, Azure OpenAI first
        use_aoai = settings.azure_openai_configured or not settings.openai_configured
    problem = settings.provider_problem(use_aoai)
    if problem:
        raise UsageError(problem)
    try:
        model = args.model or settings.default_model_name
        request = TaskCreate(prompt=args.prompt, use_aoai=use_aoai, model_name=model)
    except ValidationError as error:
        raise UsageError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from error
    if len(request.prompt) > settings.max_prompt_chars:
        raise UsageError(f"prompt: longer than MAX_PROMPT_CHARS={settings.max_prompt_chars}")
    return TaskInput(
        task_id=f"cli-{uuid.uuid4().hex[:12]}",
        prompt=request.prompt,
        use_aoai=request.use_aoai,
        model_name=request.model_name,
        created_at=utc_now(),
        max_attempts=1,
    )


class TokenCounter(MeteredClient):
    """Counts every model call of the run (the orchestrator's included) into `progress.tokens`."""

    def __init__(self, inner: ChatCompletionClient, progress: Progress) -> None:
        self.meter = UsageMeter()
        super().__init__(inner, "total", self.meter)
        self.progress = progress

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        try:
            return await super().create(*args, **kwargs)
        finally:
            total = self.meter.total
            self.progress.tokens = (total.prompt_tokens, total.completion_tokens)


async def run_task(task: TaskInput, settings: Settings, progress: Progress) -> RunOutcome:
    """The activity's execution path, with a model client that keeps `progress.tokens` current."""
    inner = build_model_client(settings, use_aoai=task.use_aoai, model_name=task.model_name)
    try:
        store = ProgressStore(settings, progress)
        return await execute_task(task, settings, store=store, client=TokenCounter(inner, progress))
    finally:
        await inner.close()


def report(task: TaskInput, outcome: RunOutcome, progress: Progress) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "status": outcome.status,
        "model_name": task.model_name,
        "use_aoai": task.use_aoai,
        "final_answer": outcome.final_answer,
        "stop_reason": outcome.stop_reason,
        "error": outcome.error,
        "rounds": progress.round,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "usage_by_agent": {agent: usage.model_dump() for agent, usage in outcome.usage_by_agent.items()},
        "execution_time": outcome.execution_time,
        "messages": [view.model_dump() for view in outcome.messages],
    }


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)  # exits 2 on bad usage, as argparse does
    progress = Progress(None if args.json else out)
    try:
        settings = Settings()
        task = build_task(args, settings)
        if not args.json:
            provider = "Azure OpenAI" if task.use_aoai else "OpenAI-compatible"
            print(f"task {task.task_id}: {task.model_name} via {provider}; mirror {settings.tasks_db_path}\n", file=out)
        outcome = asyncio.run(run_task(task, settings, progress))
    except (UsageError, ConfigurationError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except ValidationError as error:
        print(f"error: invalid settings: {error}", file=err)
        return EXIT_USAGE
    except TaskRunError as error:  # a retryable failure: the service would try again; here it is final
        outcome = RunOutcome(status="failed", stop_reason="error", error=str(error), finished_at=utc_now())
    if args.json:
        print(json.dumps(report(task, outcome, progress), indent=2), file=out)
    elif outcome.status == "completed":
        print(f"completed in {outcome.execution_time:.1f} s, {progress.round} rounds, "
              f"{outcome.prompt_tokens}+{outcome.completion_tokens} tokens\n\n{outcome.final_answer}", file=out)
    else:
        print(f"failed ({outcome.stop_reason}): {outcome.error}", file=err)
    return EXIT_COMPLETED if outcome.status == "completed" else EXIT_FAILED
