"""The activities' logic: run a task once (an attempt); how a run ends is `_outcome`'s.

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
import uuid
from datetime import timedelta

from autogen_core.models import ChatCompletionClient

from ..clock import utc_now
from ..errors import TaskRunError
from ..redaction import Redactor
from ..schemas import (
    ResumePoint,
    RunOutcome,
    RunPaused,
    TaskInput,
    TokenUsage,
)
from ..settings import Settings
from ..store import AttemptEnd, TaskStore, best_effort
from ..telemetry import record_outcome
from ._files import RunFiles, remove_workspace
from ._finishing import finish_pending, for_durable, staged_run
from ._lease import RunLease, paused_by_holder
from ._metering import AttemptMeter
from ._outcome import record_failure, save_run_outcome
from ._progress import ProgressTracker
from ._recorder import AttemptRecorder
from ._review import awaits_review, decided, review_taken
from ._start import Start, first_attempt, start_attempt
from ._stop_signal import StopSignal
from ._team import task_settings
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
    settings = task_settings(settings, task)  # the task's own turns, tokens and deadline
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
    lease = RunLease(store, task.task_id, holder, settings.run_lease_seconds)  # one live copy of the run at a time
    store.hold(task.task_id)  # the task's own file stays open while this attempt writes it
    start: Start | None = None
    written = False
    try:
        start = await first_attempt(task, settings, store, utc_now(), lease.terms())
        if start is None:  # the task has run before, or has an outcome
            await lease.take_or_wait(slice_seconds or settings.task_timeout_seconds)
            done = await best_effort(store.get_task, task.task_id)
            if done is not None and done.outcome is not None:
                # Finished: completed, or failed for good (deadline, budget, ledger); never run a task twice.
                logger.info("task %s already finished; re-delivered activity returns the stored result", task.task_id)
                return for_durable(done.outcome)
            pending = await best_effort(store.finishing, task.task_id)
            if pending is not None:  # the team ran to its end; only its outputs wait for Blob Storage
                return await finish_pending(task, settings, store, *pending)
            if lease.waited and (paused := await paused_by_holder(task, store)) is not None:
                return paused  # the copy it waited for paused: the next slice goes on from there
            start = await start_attempt(task, settings, store, holder, utc_now())
        lease.keep()
        ended = await _go_on(task, settings, store, client, stop, slice_seconds, redact, holder, start)
        written = True  # recording the outcome, or the pause, let the lease go
        return ended
    finally:
        await lease.let_go(written=written)
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
        task = await review_taken(task, store, resume.attempt)
        after_review = decided(task, resume, settings)
        if isinstance(after_review, RunReport):
            report = after_review
            report.usage_by_agent = dict(meter.by_agent)
            plan = RoundBoundary(resume.state, 0, len(resume.history), resume.elapsed)
            if report.paused and not await (await recorder.checkpoint(plan)):
                raise TaskRunError("the plan could not be saved for review (the task mirror is unavailable)")
        else:  # the time spent waiting for the reviewer is not the run's: its deadline starts again
            resume = after_review
            left = max(settings.task_timeout_seconds - resume.elapsed, 0.0)
            start.deadline = utc_now() + timedelta(seconds=left)
            await best_effort(store.set_status, task.task_id, "running", utc_now())
    files = RunFiles(task, settings, store, workspace, new_file=start.fresh)
    try:
        if report is None:
            report = await staged_run(files, meter, lambda text: run_team(
                task.model_copy(update={"prompt": text}), settings, recorder.messages, workspace=workspace,
                redact=redact, client=client, stop=stop, meter=meter, resume=resume,
                checkpoint=None if attempt is None else recorder.checkpoint,
                time_left=(start.deadline - utc_now()).total_seconds(), slice_seconds=slice_seconds,
                review_plan=task.review == "plan" and resume is None,
            ))
    except BaseException:
        await asyncio.to_thread(remove_workspace, workspace)
        raise
    if report.paused or report.retryable:
        await files.sync()  # the next slice, or the retried attempt, finds the outputs so far
    if report.retryable and not report.paused:
        await asyncio.to_thread(remove_workspace, workspace)
    if report.paused and writer is not None and attempt is not None:
        await writer.close()  # the attempt goes on in the next slice
        await best_effort(store.release_checkpoint, task.task_id, attempt, holder)
        if report.review is not None:  # the plan waits for its reviewer (the orchestrator holds no compute)
            await best_effort(store.set_status, task.task_id, "awaiting_input", utc_now())
        slices = task.resume.slices + 1 if task.resume is not None else 2
        return RunPaused(resume=ResumePoint(attempt=attempt, round=report.rounds, slices=slices), review=report.review)
    retried = report.status == "failed" and report.retryable
    # The last batch. An attempt that ends the task ends after its outcome is recorded
    # (`save_outcome`): nothing that waits for a stopped run (the announcement of a cancelled task,
    # DELETE) sees it ended before its outcome is written.
    streamed = writer is not None and await writer.close(AttemptEnd(utc_now(), report.error) if retried else None)
    if retried:
        settled = await best_effort(store.get_task, task.task_id)
        if settled is not None and settled.outcome is not None:
            return for_durable(settled.outcome)  # another copy of this activity finished the task
        raise TaskRunError(" ".join((report.error or "the team run failed").split()))

    held = None
    try:
        outcome, held = await save_run_outcome(task, store, report, attempt, stop, redact, files, streamed)
    finally:
        if held is None and writer is not None and attempt is not None:  # not recorded: the attempt ends anyway
            await best_effort(store.finish_attempt, task.task_id, attempt, utc_now(), dict(meter.by_agent),
                              report.error)
    record_outcome(task.model_name, outcome, held)
    return for_durable(held or outcome)


def _tokens(usage: dict[str, TokenUsage]) -> int:
    total = sum(usage.values(), TokenUsage())
    return total.prompt_tokens + total.completion_tokens
