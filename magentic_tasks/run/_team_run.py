"""Running the Magentic-One team for one task, bounded by a deadline, turns, stalls and tokens.

Each message the team emits is shaped, scrubbed of secrets and handed to a sink as it arrives
(the activity's sink streams it into SQLite). The team runs a round at a time (`resumable`): after
each clean round boundary the idle team's state goes to the `checkpoint` sink, and a run may start
from such a state (`Resume`) or pause at a boundary once its slice of time is used (`slice_seconds`).
A run stopped by its deadline or token budget asks for a last answer (`_last_answer`) and, with
one, completes with the stop reason saying why it stopped. The run ends in a `RunReport` that says
whether it completed, failed or paused, and whether a failure is worth retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    ModelClientStreamingChunkEvent,
    TextMessage,
)
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient

from ..errors import ConfigurationError, TokenBudgetExceeded
from ..redaction import Redactor
from ..resumable import RoundLoop
from ..schemas import STOPPED, MessageView, OutcomeStatus, PlanReview, TaskInput
from ..settings import CANCEL_GRACE_SECONDS, FUNCTION_TIMEOUT_SECONDS, Settings
from ..text import storable
from ._clients import build_model_client, shared_http_client
from ._errors import TRANSIENT_ERRORS, budget_message, describe
from ._last_answer import last_answer
from ._metering import UsageMeter
from ._review import planned
from ._shaping import to_views
from ._stop_signal import StopSignal
from ._team import ORCHESTRATOR_NAME, build_team, members_of
from ._types import CheckpointSink, MessageSink, Resume, RoundBoundary, RunReport

logger = logging.getLogger(__name__)

# A slice that has saved a round stops a round that would run past this (the function's own timeout).
HARD_SLICE_SECONDS = FUNCTION_TIMEOUT_SECONDS - 30.0
# What a last answer leaves of the function's own timeout, to record the outcome.
LAST_ANSWER_MARGIN = 5.0


@dataclass
class _Progress:
    messages: list[MessageView] = field(default_factory=list)
    final_answer: str | None = None
    rounds: int = 0
    saved: int = 0  # rounds checkpointed by this slice
    saving: set[asyncio.Future[bool]] = field(default_factory=set)  # checkpoints handed over, not landed yet
    review: PlanReview | None = None

    def landed(self, landing: asyncio.Future[bool]) -> None:
        self.saving.discard(landing)
        self.saved += not landing.cancelled() and landing.result()


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
    resume: Resume | None = None,
    checkpoint: CheckpointSink | None = None,
    time_left: float | None = None,
    slice_seconds: float | None = None,
    review_plan: bool = False,
) -> RunReport:
    """Run the team on `task.prompt`, or on from `resume`; never raises for a failure of the run
    itself. When `stop` gives a reason (polled while the team works, and asked at every round
    boundary) the team is cancelled through its token and the run ends `cancelled` with that
    reason, keeping the transcript and tokens so far. `meter` (a fresh one by default) counts every
    model call. `checkpoint` gets every clean round boundary (never one after a stop, a cancel or an
    error) and is written while the next round runs; `time_left` is what remains of the whole run's
    deadline (TASK_TIMEOUT_SECONDS by default); after `slice_seconds` the run pauses at the next
    round boundary (`paused`). With `review_plan` a fresh run pauses once facts and plan are made
    (`review`), checkpointed as round 0 (a plan that cannot be checkpointed fails the attempt,
    retryably)."""
    started = time.monotonic()
    meter = meter or UsageMeter(settings.max_tokens_per_task)
    progress = _Progress(messages=list(resume.history) if resume else [], rounds=resume.rounds if resume else 0)
    elapsed_before = resume.elapsed if resume else 0.0
    time_left = settings.task_timeout_seconds if time_left is None else time_left

    def report(status: OutcomeStatus, **fields: object) -> RunReport:
        return RunReport(
            status=status,
            messages=progress.messages,
            usage_by_agent=dict(meter.by_agent),
            execution_time=round(elapsed_before + time.monotonic() - started, 3),
            final_answer=progress.final_answer if status == "completed" else None,
            rounds=progress.rounds,
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

    async def on_round(state: Mapping[str, Any], review: bool) -> bool:
        """A clean boundary: checkpoint it unless the run was stopped; whether to run another round."""
        reason = None if stop is None else await stop.reason()
        if reason:
            raise _Stopped(reason)
        progress.rounds += not review
        elapsed = time.monotonic() - started
        boundary = RoundBoundary(state, progress.rounds, len(progress.messages), elapsed_before + elapsed)
        landing = None if checkpoint is None else await checkpoint(boundary)
        if landing is not None:
            progress.saving.add(landing)
            landing.add_done_callback(progress.landed)
        # The next round runs while the checkpoint is written; a run waits for it only to pause here.
        pausing = review or (slice_seconds is not None and elapsed >= slice_seconds)
        saved = pausing and landing is not None and await asyncio.shield(landing)
        if review:
            if not saved:  # a task cannot wait for its reviewer without its state: try again later
                raise PlanNotSaved("the plan could not be saved for review (the task mirror is unavailable)")
            progress.review = planned(state, settings)
            return False
        # A slice pauses only where it can be resumed: at a boundary it saved.
        return not pausing or not saved

    async with contextlib.AsyncExitStack() as resources:
        try:
            agents = task.team.agents if task.team is not None else None
            team = await build_team(settings, model_client, meter, workspace, resources, review_plan=review_plan,
                                    agents=agents, members=members_of(resume.state) if resume else None)
        except Exception as error:  # executor or agent construction
            return report("failed", error=redact(f"cannot build the team: {error}"), stop_reason="configuration error")
        take = _message_sink(sink, progress, redact)
        rounds = RoundLoop(team, token).run(task.prompt, resume.state if resume else None, take, on_round)

        async def answered_last() -> bool:
            """Whether the stopped run now has the orchestrator's last answer (in its transcript)."""
            seconds = settings.final_answer_seconds
            if slice_seconds is not None:  # an activity: it must end before the function's own timeout
                seconds = min(seconds, FUNCTION_TIMEOUT_SECONDS - LAST_ANSWER_MARGIN - (time.monotonic() - started))
            message = await last_answer(team, model_client, meter, seconds=seconds,
                                        max_tokens=settings.final_answer_max_tokens, redact=redact)
            if message is not None:
                await take(message)
            return message is not None

        consumer = asyncio.ensure_future(rounds)
        hard = time_left if slice_seconds is None else HARD_SLICE_SECONDS
        try:
            finished, stop_reason = await _until_done(consumer, stop, min(time_left, hard))
        except _Stopped as stopped:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            logger.info("task %s: run stopped: %s", task.task_id, stopped.reason)
            return report("cancelled", error=redact(storable(stopped.reason)), stop_reason=STOPPED)
        except TimeoutError:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            if progress.saving:  # whether the last boundaries were saved decides what comes next
                await asyncio.wait(progress.saving)
            if hard < time_left and progress.saved:  # a round outran the function: go on from the last boundary
                return report("completed", paused=True, stop_reason="slice")
            if await answered_last():
                return report("completed", stop_reason="timeout")
            return report(
                "failed",
                error=f"timed out after {settings.task_timeout_seconds:g} s (TASK_TIMEOUT_SECONDS, or the task's own "
                      "deadline_seconds)",
                stop_reason="timeout",
            )
        except Exception as error:
            await _cancel(consumer, token)
            await _keep_prompt(task, progress, sink, redact)
            if meter.exhausted or isinstance(error, TokenBudgetExceeded):
                if await answered_last():
                    return report("completed", stop_reason="token budget exhausted")
                return report("failed", error=budget_message(meter), stop_reason="token budget exhausted")
            name, text = describe(error)
            logger.warning("task %s: team run failed: %s", task.task_id, redact(text))
            return report("failed", error=redact(text), stop_reason="error", retryable=name in TRANSIENT_ERRORS)
    if not finished:
        return report("completed", paused=True, stop_reason="slice", review=progress.review)
    return report("completed", stop_reason=stop_reason)


def _message_sink(
    sink: MessageSink, progress: _Progress, redact: Redactor
) -> Callable[[BaseAgentEvent | BaseChatMessage], Awaitable[None]]:
    async def take(item: BaseAgentEvent | BaseChatMessage) -> None:
        if isinstance(item, ModelClientStreamingChunkEvent):
            return
        views = [view.model_copy(update={"content": redact(view.content)}) for view in to_views(item)]
        if isinstance(item, TextMessage) and item.source == ORCHESTRATOR_NAME:
            progress.final_answer = views[0].content
        progress.messages.extend(views)
        await sink(views)

    return take


class PlanNotSaved(Exception):
    """The plan to review could not be checkpointed."""


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _until_done(
    consumer: asyncio.Future[tuple[bool, str | None]], stop: StopSignal | None, deadline: float
) -> tuple[bool, str | None]:
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


async def _keep_prompt(task: TaskInput, progress: _Progress, sink: MessageSink, redact: Redactor) -> None:
    """A run that failed before autogen handed over the task message still shows the prompt."""
    if not progress.messages:
        prompt = MessageView(source="user", content=storable(redact(task.prompt)), type="TextMessage")
        progress.messages.append(prompt)
        await sink([prompt])


async def _cancel(consumer: asyncio.Future[tuple[bool, str | None]], token: CancellationToken) -> None:
    """Cancel the team through its token, then abandon it if it does not wind down in time."""
    token.cancel()
    try:
        await asyncio.wait_for(consumer, CANCEL_GRACE_SECONDS)
    except BaseException:
        consumer.cancel()
