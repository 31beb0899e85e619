"""The task orchestrator: pending → running → completed | failed | cancelled, then announced.

A run longer than one slice (SLICE_SECONDS) comes back `paused` with where it goes on; the
orchestrator then continues as new with that point in its input, so its history stays one slice
long however many slices the run takes (the checkpoint itself is in SQLite, not in Durable state).
A run paused for plan review (`"review": "plan"`) makes the task `awaiting_input`, with the plan in
the custom status, and waits for the `plan_input` event or a timer (no activity runs meanwhile);
the next slice gets the decision (approve, revise, reject; `expired` when the timer fires first).

The output is the outcome without its transcript: the run activity's result in the history holds
the transcript, once (the read path reads it from there when SQLite lacks the task).

Deterministic by construction: no clock, ids, settings or I/O; everything it needs arrives in its
input (`TaskInput`, retry policy included). A run that fails every attempt ends as a `failed`
result, recorded by an activity, never as a crashed instance. A final outcome is then announced
(orchestrators/announcements.py): published to the configured event sinks and, if the task has a
`callback_url`, handed to the callback orchestration (orchestrators/callbacks.py). A terminated
orchestration announces nothing: its task's announcement orchestration does.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from durable import FAILURE_ACTIVITY, PLAN_INPUT_EVENT, RUN_ACTIVITY, TASK_ORCHESTRATOR, custom_status
from magentic_tasks.schemas import MAX_ERROR_CHARS, PlanInput, ReviewDecision, RunOutcome, RunPaused, TaskInput

from .announcements import announce

bp = df.Blueprint()


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
    if isinstance(result, dict) and result.get("status") == "paused":
        paused = RunPaused.model_validate(result)
        decision = None
        if paused.review is not None:
            context.set_custom_status(custom_status("awaiting_input", plan=paused.review.plan))
            decision = yield from review(context, paused.review.timeout_seconds)
            context.set_custom_status(custom_status("running"))
        following = task.model_copy(update={"resume": paused.resume, "review_decision": decision})
        context.continue_as_new(following.model_dump(mode="json"))
        return result
    outcome = RunOutcome.model_validate(result)
    context.set_custom_status(custom_status(outcome.status))
    yield from announce(context, task, outcome, retry)
    # The transcript is in the history once already, as the activity's result: the output (kept
    # twice by the host, in the history and the instance) goes without it.
    return outcome.model_dump(mode="json", exclude={"messages"})


def review(context: df.DurableOrchestrationContext, timeout_seconds: float) -> Generator[Any, Any, ReviewDecision]:
    """Wait for the reviewer's input or the review timer, whichever comes first."""
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=timeout_seconds))
    given = context.wait_for_external_event(PLAN_INPUT_EVENT)
    winner = yield context.task_any([given, timer])
    if winner is not given:
        return ReviewDecision(action="expired")
    timer.cancel()
    body = given.result
    try:  # the service validated it; an event raised by other means that does not parse is a rejection
        decision = PlanInput.model_validate(json_value(body))
    except ValueError:
        return ReviewDecision(action="reject")
    return ReviewDecision(action=decision.action, plan=decision.plan)


def json_value(value: Any) -> Any:
    """An event's data as sent: the SDK hands over the JSON text or the value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def failure_reason(error: BaseException) -> str:
    """The activity's own message, without the Durable wrapping and stack trace."""
    text = str(error).strip()
    marker = "TaskRunError: "
    if marker in text:
        text = text.split(marker, 1)[1]
    first_line = text.splitlines()[0].strip() if text else ""
    return first_line[:MAX_ERROR_CHARS] or type(error).__name__


bp.orchestration_trigger(context_name="context", orchestration=TASK_ORCHESTRATOR)(task_orchestrator)
