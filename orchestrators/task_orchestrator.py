"""The task orchestrator: pending → running → completed | failed.

Deterministic by construction: no clock, ids, settings or I/O; everything it needs arrives in its
input (`TaskInput`, retry policy included). A run that fails every attempt ends as a `failed`
result, recorded by an activity, never as a crashed instance.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from magentic_tasks.lifecycle import custom_status
from magentic_tasks.schemas import MAX_ERROR_CHARS, RunOutcome, TaskInput

bp = df.Blueprint()

ORCHESTRATOR_NAME = "task_orchestrator"
RUN_ACTIVITY = "run_magentic_one_activity"
FAILURE_ACTIVITY = "record_failure_activity"


def task_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    task = TaskInput.model_validate(context.get_input())
    context.set_custom_status(custom_status("running"))
    # SDK 1.7 sends the host only these two fields: retries are spaced at a fixed interval.
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=task.first_retry_ms,
        max_number_of_attempts=task.max_attempts,
    )
    payload = task.model_dump(mode="json")
    try:
        result = yield context.call_activity_with_retry(RUN_ACTIVITY, retry, payload)
    except Exception as error:
        failure = {"task": payload, "error": failure_reason(error)}
        try:
            result = yield context.call_activity(FAILURE_ACTIVITY, failure)
        except Exception as record_error:
            result = RunOutcome(
                status="failed",
                stop_reason="error",
                error=f"{failure['error']} (and recording the failure failed: {failure_reason(record_error)})",
                attempts=task.max_attempts,
                finished_at=context.current_utc_datetime,
            ).model_dump(mode="json")
    outcome = RunOutcome.model_validate(result)
    context.set_custom_status(custom_status(outcome.status))
    return outcome.model_dump(mode="json")


def failure_reason(error: BaseException) -> str:
    """The activity's own message, without the Durable wrapping and stack trace."""
    text = str(error).strip()
    marker = "TaskRunError: "
    if marker in text:
        text = text.split(marker, 1)[1]
    first_line = text.splitlines()[0].strip() if text else ""
    return first_line[:MAX_ERROR_CHARS] or type(error).__name__


bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR_NAME)(task_orchestrator)
