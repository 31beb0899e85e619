"""Running the Magentic-One team for one task, bounded by a deadline, turns, stalls and tokens.

Each message the team emits is shaped, scrubbed of secrets and handed to a sink as it arrives
(the activity's sink streams it into SQLite). The run ends in a `RunReport` that says whether it
completed or failed, and whether a failure is worth retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    ModelClientStreamingChunkEvent,
    TextMessage,
)
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient

from .clients import build_model_client, shared_http_client
from .errors import ConfigurationError, TokenBudgetExceeded
from .metering import UsageMeter
from .redaction import Redactor
from .schemas import MessageView, OutcomeStatus, TaskInput, TokenUsage
from .settings import Settings
from .shaping import to_views
from .stop_signal import CANCEL_GRACE_SECONDS, STOPPED, StopSignal
from .team import ORCHESTRATOR_NAME, build_team
from .text import storable

logger = logging.getLogger(__name__)

MessageSink = Callable[[list[MessageView]], Awaitable[None]]

# Failures worth another attempt: the model service was unreachable, overloaded or erring.
TRANSIENT_ERRORS = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError", "ConnectionError"}
)

_ERROR_HEAD = re.compile(r"^(\w+): ")


@dataclass
class RunReport:
    status: OutcomeStatus
    messages: list[MessageView]
    usage_by_agent: dict[str, TokenUsage]
    execution_time: float
    final_answer: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    retryable: bool = False

    @property
    def usage(self) -> TokenUsage:
        return sum(self.usage_by_agent.values(), TokenUsage())


@dataclass
class _Progress:
    messages: list[MessageView] = field(default_factory=list)
    final_answer: str | None = None


async def run_team(
    task: TaskInput,
    settings: Settings,
    sink: MessageSink,
    *,
    workspace: Path,
    redact: Redactor,
    client: ChatCompletionClient | None = None,
    stop: StopSignal | None = None,
    meter: UsageMeter | None = None,
) -> RunReport:
    """Run the team on `task.prompt`; never raises for a failure of the run itself. When `stop`
    gives a reason, the team is cancelled through its token as for the deadline and the run ends
    `cancelled` with that reason, keeping the transcript and tokens so far. `meter` (a fresh one by
    default) counts every model call; the caller may read it while the run goes on."""
    started = time.monotonic()
    meter = meter or UsageMeter(settings.max_tokens_per_task)
    progress = _Progress()

    def report(status: OutcomeStatus, **fields: object) -> RunReport:
        return RunReport(
            status=status,
            messages=progress.messages,
            usage_by_agent=dict(meter.by_agent),
            execution_time=round(time.monotonic() - started, 3),
            final_answer=progress.final_answer if status == "completed" else None,
            **fields,  # type: ignore[arg-type]
        )

    try:
        # Not closed after the run: it shares the event loop's connection pool.
        model_client = client or build_model_client(
            settings, use_aoai=task.use_aoai, model_name=task.model_name, http_client=shared_http_client()
        )
    except ConfigurationError as error:
        return report("failed", error=redact(str(error)), stop_reason="configuration error")

    token = CancellationToken()
    async with contextlib.AsyncExitStack() as resources:
        try:
            team = await build_team(settings, model_client, meter, workspace, resources)
        except Exception as error:  # executor or agent construction
            return report("failed", error=redact(f"cannot build the team: {error}"), stop_reason="configuration error")
        stream = team.run_stream(task=task.prompt, cancellation_token=token)
        consumer = asyncio.ensure_future(_consume(stream, sink, progress, redact))
        try:
            stop_reason = await _until_done(consumer, stop, settings.task_timeout_seconds)
        except _Stopped as stopped:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            logger.info("task %s: run stopped: %s", task.task_id, stopped.reason)
            return report("cancelled", error=redact(storable(stopped.reason)), stop_reason=STOPPED)
        except TimeoutError:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            return report(
                "failed",
                error=f"timed out after {settings.task_timeout_seconds:g} s (TASK_TIMEOUT_SECONDS)",
                stop_reason="timeout",
            )
        except Exception as error:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            if meter.exhausted or isinstance(error, TokenBudgetExceeded):
                return report("failed", error=_budget_message(meter), stop_reason="token budget exhausted")
            name, text = _describe(error)
            logger.warning("task %s: team run failed: %s", task.task_id, redact(text))
            return report("failed", error=redact(text), stop_reason="error", retryable=name in TRANSIENT_ERRORS)
    return report("completed", stop_reason=stop_reason)


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _until_done(consumer: asyncio.Future[str | None], stop: StopSignal | None, deadline: float) -> str | None:
    """The consumer's result; `_Stopped` when the stop signal fires first, TimeoutError at the deadline.
    The consumer itself is left running for the caller to cancel."""
    stopper = None if stop is None else asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {consumer} if stopper is None else {consumer, stopper}
    try:
        done, _ = await asyncio.wait(waiters, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if stopper is not None:
            stopper.cancel()
    if consumer in done:
        return consumer.result()
    if stopper is not None and stopper in done:
        raise _Stopped(stopper.result())
    raise TimeoutError


async def _consume(
    stream: AsyncIterator[BaseAgentEvent | BaseChatMessage | TaskResult],
    sink: MessageSink,
    progress: _Progress,
    redact: Redactor,
) -> str | None:
    async for item in stream:
        if isinstance(item, TaskResult):
            return item.stop_reason
        if isinstance(item, ModelClientStreamingChunkEvent):
            continue
        views = [view.model_copy(update={"content": redact(view.content)}) for view in to_views(item)]
        if isinstance(item, TextMessage) and item.source == ORCHESTRATOR_NAME:
            progress.final_answer = views[0].content
        progress.messages.extend(views)
        await sink(views)
    return None


async def _keep_prompt(task: TaskInput, progress: _Progress, sink: MessageSink, redact: Redactor) -> None:
    """A run that failed before autogen handed over the task message still shows the prompt."""
    if not progress.messages:
        prompt = MessageView(source="user", content=storable(redact(task.prompt)), type="TextMessage")
        progress.messages.append(prompt)
        await sink([prompt])


async def _cancel(consumer: asyncio.Future[str | None], token: CancellationToken) -> None:
    """Cancel the team through its token, then abandon it if it does not wind down in time."""
    token.cancel()
    try:
        await asyncio.wait_for(consumer, CANCEL_GRACE_SECONDS)
    except BaseException:
        consumer.cancel()


def _describe(error: BaseException) -> tuple[str, str]:
    """The error's type name and a one-line description, without autogen's appended traceback."""
    text = storable(str(error).split("\nTraceback:", 1)[0].strip())
    if isinstance(error, RuntimeError):
        match = _ERROR_HEAD.match(text)
        if match:
            return match.group(1), text
    name = type(error).__name__
    return name, f"{name}: {text}" if text else name


def _budget_message(meter: UsageMeter) -> str:
    total = meter.total
    return (
        f"token budget exhausted: {total.prompt_tokens + total.completion_tokens} tokens used "
        f"of MAX_TOKENS_PER_TASK={meter.budget}"
    )
