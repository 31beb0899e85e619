"""The end of a run: its final outcome, recorded once (the first written wins), and the final
failure of a task whose every attempt failed. Both count the tokens of every attempt on record."""

from __future__ import annotations

import asyncio
import logging

from ..clock import utc_now
from ..errors import TaskRunError
from ..files import FilesUnavailable
from ..redaction import Redactor
from ..schemas import MAX_ERROR_CHARS, STOPPED, RunOutcome, SkippedFile, TaskInput, TokenUsage
from ..settings import Settings
from ..store import TaskStore, best_effort
from ..telemetry import record_outcome
from ..text import storable
from ._files import RunFiles, remove_workspace
from ._finishing import for_durable, record_pending, with_outputs
from ._stop_signal import StopSignal
from ._types import RunReport

logger = logging.getLogger(__name__)


async def save_run_outcome(
    task: TaskInput, store: TaskStore, report: RunReport, attempt: int | None, stop: StopSignal | None,
    redact: Redactor, files: RunFiles, streamed: bool,
) -> tuple[RunOutcome, RunOutcome | None]:
    """The run's final outcome with its outputs kept, and the one SQLite holds once it is recorded
    (the first written wins). Outputs that Blob Storage cannot take keep the outcome in SQLite for
    the retried activity (`TaskRunError`), which stores them without running the team again."""
    usage, attempts = await _usage_of_all_attempts(store, task.task_id, attempt, report.usage_by_agent)
    outcome = _outcome(report, usage, attempts, task)  # stamped before the last stop check below
    if report.status == "completed" and stop is not None:
        reason = await stop.reason()  # ended from outside while the team was finishing: that came first
        if reason:
            outcome = outcome.model_copy(update={
                "status": "cancelled", "final_answer": None, "stop_reason": STOPPED,
                "error": redact(storable(reason))[:MAX_ERROR_CHARS], "finished_at": utc_now(),
            })
    try:
        outcome = await with_outputs(files, outcome)
    except FilesUnavailable as error:
        held_back = attempt is not None and await best_effort(
            store.save_finishing, task.task_id, attempt, outcome, utc_now())
        if not held_back:
            logger.error("task %s: outputs not stored and the result could not be kept for a retry", task.task_id)
            outcome = outcome.model_copy(update={"files_skipped": [
                *outcome.files_skipped, SkippedFile(name="...", reason=f"not kept: {error}")]})
        else:
            raise TaskRunError(f"the task's outputs could not be stored ({error}); retrying") from None
    await asyncio.to_thread(remove_workspace, files.workspace)  # nothing serves the workspace after the run
    held = await best_effort(store.save_outcome, task, outcome, attempt, streamed)  # its checkpoints go with it
    if held is not None and attempt is not None and held.stop_reason == STOPPED != outcome.stop_reason:
        # A cancel was recorded first (without this run's transcript): it decided the task, and it
        # keeps what this run did, as a run the cancel stopped would have kept it.
        outcome = outcome.model_copy(update={"status": "cancelled", "final_answer": None, "stop_reason": STOPPED,
                                             "error": held.error, "finished_at": held.finished_at})
        held = await best_effort(store.save_outcome, task, outcome, attempt) or held
    return outcome, held


async def record_failure(
    task: TaskInput, error: str, settings: Settings, *, store: TaskStore | None = None
) -> RunOutcome:
    """The final state of a task whose every attempt failed: the last attempt's own error (or,
    when it recorded none, `error` as the host reported it), the last transcript, all tokens.
    A task that already has an outcome in SQLite keeps it."""
    store = store or TaskStore.from_settings(settings)
    kept = await record_pending(task, settings, store)
    if kept is not None:  # the team finished, but its outputs never reached Blob Storage: keep the result
        return kept
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
        team=task.team,
    )
    held = await best_effort(store.save_outcome, task, outcome, last)
    record_outcome(task.model_name, outcome, held)
    return for_durable(held or outcome)


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


def _outcome(report: RunReport, usage: dict[str, TokenUsage], attempts: int, task: TaskInput) -> RunOutcome:
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
        team=task.team,
    )
