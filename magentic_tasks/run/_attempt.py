"""The activities' logic: run a task once (an attempt), or record its final failure.

Activities run at least once, and the host may even run two copies of one at the same time, so
both are idempotent and agree: a task already finished in SQLite is not run again, every write is
keyed by task id and attempt, the first final outcome written to SQLite wins, and each copy returns
the outcome SQLite holds after its own write, so Durable state records that same outcome whichever
copy it keeps. SQLite is a mirror: when it cannot be written the run goes on and Durable state
keeps the result (the read path and the reconcile timer copy it over later).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from datetime import timedelta

from autogen_core.models import ChatCompletionClient

from ..clock import utc_now
from ..errors import TaskRunError
from ..redaction import Redactor
from ..schemas import MAX_ERROR_CHARS, STOPPED, MessageView, ResumePoint, RunOutcome, RunPaused, TaskInput, TokenUsage
from ..settings import Settings
from ..store import AttemptEnd, Checkpoint, TaskStore, best_effort
from ..telemetry import record_outcome
from ..text import storable
from ._metering import AttemptMeter
from ._progress import ProgressTracker
from ._review import awaits_review, decided
from ._shaping import without_image_bytes
from ._start import Start, first_attempt, start_attempt
from ._stop_signal import StopSignal
from ._team_run import run_team
from ._transcript_writer import TranscriptWriter
from ._types import RoundBoundary, RunReport

logger = logging.getLogger(__name__)


async def execute_task(
    task: TaskInput,
    settings: Settings,
    *,
    store: TaskStore | None = None,
    client: ChatCompletionClient | None = None,
    stop: StopSignal | None = None,
) -> RunOutcome:
    """`execute_slice` without slices: the run goes on until it ends (the CLI)."""
    outcome = await execute_slice(task, settings, store=store, client=client, stop=stop, sliced=False)
    assert isinstance(outcome, RunOutcome)
    return outcome


async def execute_slice(
    task: TaskInput,
    settings: Settings,
    *,
    store: TaskStore | None = None,
    client: ChatCompletionClient | None = None,
    stop: StopSignal | None = None,
    sliced: bool = True,
) -> RunOutcome | RunPaused:
    """One attempt at the task, or one slice of it. Returns the outcome for Durable state (image
    bytes left out), or where the run goes on when its slice of time (SLICE_SECONDS) is used;
    raises `TaskRunError` for a failure worth retrying, and nothing else: a defect of this code
    ends the task `failed` with its real reason instead of being retried (it would only recur)."""
    store = store or TaskStore.from_settings(settings)
    try:
        return await _attempt(task, settings, store, client, stop, settings.slice_seconds if sliced else None)
    except TaskRunError:
        raise
    except Exception as error:
        logger.exception("task %s: the activity failed unexpectedly", task.task_id)
        return await record_failure(task, f"internal error: {type(error).__name__}: {error}", settings, store=store)


async def _attempt(
    task: TaskInput, settings: Settings, store: TaskStore, client: ChatCompletionClient | None,
    stop: StopSignal | None, slice_seconds: float | None,
) -> RunOutcome | RunPaused:
    redact = Redactor(settings.secrets())
    holder = uuid.uuid4().hex
    store.hold(task.task_id)  # the task's own file stays open while this attempt writes it
    start: Start | None = None
    try:
        start = await first_attempt(task, settings, store, utc_now())
        if start is None:  # the task has run before, or has an outcome
            done = await best_effort(store.get_task, task.task_id)
            if done is not None and done.outcome is not None:
                # Finished: completed, or failed for good (deadline, budget, ledger); never run a task twice.
                logger.info("task %s already finished; re-delivered activity returns the stored result", task.task_id)
                return _for_durable(done.outcome)
            start = await start_attempt(task, settings, store, holder, utc_now())
        return await _go_on(task, settings, store, client, stop, slice_seconds, redact, holder, start)
    finally:
        if start is not None and start.marked is not None:  # the row's write (in the background) ends first
            await start.marked
        await best_effort(store.release, task.task_id)


async def _go_on(
    task: TaskInput, settings: Settings, store: TaskStore, client: ChatCompletionClient | None,
    stop: StopSignal | None, slice_seconds: float | None, redact: Redactor, holder: str, start: Start,
) -> RunOutcome | RunPaused:
    attempt = start.attempt
    meter = AttemptMeter(settings.max_tokens_per_task, start.usage, _tokens(start.spent_before))
    tracker = ProgressTracker(attempt or 0)
    if start.resume is not None:  # the transcript goes on where the checkpoint left it
        tracker.add(start.resume.history)
    # Messages, progress and usage reach SQLite in batches: a round's, or a second's (MIRROR_FLUSH_SECONDS).
    writer = None if attempt is None else TranscriptWriter(
        store, task.task_id, tracker, meter, settings.mirror_flush_seconds
    )
    meter.listener = None if writer is None else writer.usage_changed
    recorder = AttemptRecorder(task.task_id, start, holder, meter, writer)

    workspace = settings.task_workspace_root / task.task_id
    report: RunReport | None = None
    resume = start.resume
    if resume is not None and awaits_review(task, resume):
        after_review = decided(task, resume, settings)
        if isinstance(after_review, RunReport):
            report = after_review
            report.usage_by_agent = dict(meter.by_agent)
            plan = RoundBoundary(resume.state, 0, len(resume.history), resume.elapsed)
            if report.paused and not await recorder.checkpoint(plan):
                raise TaskRunError("the plan could not be saved for review (the task mirror is unavailable)")
        else:  # the time spent waiting for the reviewer is not the run's: its deadline starts again
            resume = after_review
            left = max(settings.task_timeout_seconds - resume.elapsed, 0.0)
            start.deadline = utc_now() + timedelta(seconds=left)
            await best_effort(store.set_status, task.task_id, "running", utc_now())
    try:
        if report is None:
            report = await run_team(
                task, settings, recorder.messages, workspace=workspace, redact=redact, client=client, stop=stop,
                meter=meter, resume=resume, checkpoint=None if attempt is None else recorder.checkpoint,
                time_left=(start.deadline - utc_now()).total_seconds(), slice_seconds=slice_seconds,
                review_plan=task.review == "plan" and resume is None,
            )
    finally:
        if report is None or not report.paused:
            # Nothing serves the workspace's files after the run; keep the disk (or share) from filling.
            await asyncio.to_thread(shutil.rmtree, workspace, True)
    if report.paused and writer is not None and attempt is not None:
        await writer.close()  # the attempt goes on in the next slice
        await best_effort(store.release_checkpoint, task.task_id, attempt, holder)
        if report.review is not None:  # the plan waits for its reviewer (the orchestrator holds no compute)
            await best_effort(store.set_status, task.task_id, "awaiting_input", utc_now())
        slices = task.resume.slices + 1 if task.resume is not None else 2
        return RunPaused(resume=ResumePoint(attempt=attempt, round=report.rounds, slices=slices), review=report.review)
    retry = report.status == "failed" and report.retryable
    # The last batch: the attempt's end, and unless it is to be retried its checkpoints dropped (the task is final).
    streamed = writer is not None and await writer.close(AttemptEnd(utc_now(), report.error, final=not retry))
    if retry:
        settled = await best_effort(store.get_task, task.task_id)
        if settled is not None and settled.outcome is not None:
            return _for_durable(settled.outcome)  # another copy of this activity finished the task
        raise TaskRunError(" ".join((report.error or "the team run failed").split()))

    usage, attempts = await _usage_of_all_attempts(store, task.task_id, attempt, report.usage_by_agent)
    outcome = _outcome(report, usage, attempts)  # stamped before the last stop check below
    if report.status == "completed" and stop is not None:
        reason = await stop.reason()  # ended from outside while the team was finishing: that came first
        if reason:
            outcome = outcome.model_copy(update={
                "status": "cancelled", "final_answer": None, "stop_reason": STOPPED,
                "error": redact(storable(reason))[:MAX_ERROR_CHARS], "finished_at": utc_now(),
            })
    held = await best_effort(store.save_outcome, task, outcome, attempt, streamed)
    record_outcome(task.model_name, outcome, held)
    return _for_durable(held or outcome)


class AttemptRecorder:
    """Where an attempt's run puts what it produces: its messages go to the transcript writer, and
    each clean round boundary becomes a checkpoint, in one transaction with the round's messages
    and usage. Without a writer (the mirror could not begin the attempt) both are dropped."""

    def __init__(
        self, task_id: str, start: Start, holder: str, meter: AttemptMeter, writer: TranscriptWriter | None
    ) -> None:
        self.task_id, self.start, self.holder, self.meter, self.writer = task_id, start, holder, meter, writer

    async def messages(self, views: list[MessageView]) -> None:
        if self.writer is not None:
            self.writer.add(views)

    async def checkpoint(self, boundary: RoundBoundary) -> bool:
        """Save the boundary; whether it was saved. A checkpoint never fails the run: it only loses
        the chance to resume here."""
        writer, attempt = self.writer, self.start.attempt
        assert attempt is not None and writer is not None
        checkpoint = Checkpoint(
            task_id=self.task_id, attempt=attempt, round=boundary.rounds, messages=boundary.messages,
            state=dict(boundary.state), usage_by_agent=_plus(self.start.spent_before, self.meter.by_agent),
            elapsed=boundary.elapsed, deadline=self.start.deadline, held_by=self.holder, saved_at=utc_now(),
        )
        try:
            return await writer.flush(checkpoint=checkpoint)
        except Exception:
            logger.exception("task %s: round %d could not be checkpointed", self.task_id, boundary.rounds)
            await writer.flush()  # the round's messages, without the checkpoint
            return False


async def record_failure(
    task: TaskInput, error: str, settings: Settings, *, store: TaskStore | None = None
) -> RunOutcome:
    """The final state of a task whose every attempt failed: the last attempt's own error (or,
    when it recorded none, `error` as the host reported it), the last transcript, all tokens.
    A task that already has an outcome in SQLite keeps it."""
    store = store or TaskStore.from_settings(settings)
    redact = Redactor(settings.secrets())
    last = await best_effort(store.last_attempt, task.task_id)
    recorded = await best_effort(store.attempt_error, task.task_id, last) if last is not None else None
    message = redact(storable(recorded or error))[:MAX_ERROR_CHARS]
    messages = (await best_effort(store.messages, task.task_id, last) or []) if last is not None else []
    usage, attempts = await _usage_of_all_attempts(store, task.task_id, None, {})
    total = sum(usage.values(), TokenUsage())
    outcome = RunOutcome(
        status="failed",
        messages=messages,
        stop_reason="error",
        error=message,
        prompt_tokens=total.prompt_tokens,
        completion_tokens=total.completion_tokens,
        usage_by_agent=usage,
        attempts=max(attempts, 1),
        finished_at=utc_now(),
    )
    held = await best_effort(store.save_outcome, task, outcome, last)
    record_outcome(task.model_name, outcome, held)
    return _for_durable(held or outcome)


def _for_durable(outcome: RunOutcome) -> RunOutcome:
    """The outcome as Durable state keeps it: every image replaced by a reference."""
    return outcome.model_copy(update={"messages": without_image_bytes(outcome.messages)})


async def _usage_of_all_attempts(
    store: TaskStore, task_id: str, attempt: int | None, current: dict[str, TokenUsage]
) -> tuple[dict[str, TokenUsage], int]:
    """Tokens by agent summed over every attempt on record (the current one included) and their count."""
    recorded = await best_effort(store.attempt_usage, task_id) or {}
    if attempt is not None or not recorded:
        recorded[attempt or 0] = current
    by_agent: dict[str, TokenUsage] = {}
    for usage in recorded.values():
        for agent, spent in usage.items():
            by_agent[agent] = by_agent.get(agent, TokenUsage()) + spent
    attempts = len([key for key in recorded if key != 0]) or 1
    return by_agent, attempts


def _outcome(report: RunReport, usage: dict[str, TokenUsage], attempts: int) -> RunOutcome:
    total = sum(usage.values(), TokenUsage())
    return RunOutcome(
        status=report.status,
        messages=report.messages,
        final_answer=report.final_answer,
        stop_reason=report.stop_reason,
        error=report.error[:MAX_ERROR_CHARS] if report.error else None,
        execution_time=report.execution_time,
        prompt_tokens=total.prompt_tokens,
        completion_tokens=total.completion_tokens,
        usage_by_agent=usage,
        attempts=attempts,
        finished_at=utc_now(),
    )


def _tokens(usage: dict[str, TokenUsage]) -> int:
    total = sum(usage.values(), TokenUsage())
    return total.prompt_tokens + total.completion_tokens


def _plus(a: dict[str, TokenUsage], b: dict[str, TokenUsage]) -> dict[str, TokenUsage]:
    return {agent: a.get(agent, TokenUsage()) + b.get(agent, TokenUsage()) for agent in {*a, *b}}
