"""The callback orchestration: deliver a finished task's signed completion event, with retries.

One instance per task (`<task_id>:callback`, an id no task can have), started once its task is
final, so the task's own orchestration ends at once and its result is readable while deliveries
go on. Each attempt is an activity; between attempts a Durable timer waits 5 s, 20 s, 80 s, ...
(times four, at most an hour) until the task's `callback_retry_seconds` are spent. An activity
that raises (a lost worker, settings that cannot be read) is retried by Durable within its attempt,
and one that keeps raising is a failed attempt like any other. The custom status is the delivery's
`CallbackState`, which `GET /tasks/{id}` shows.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from durable import CALLBACK_ORCHESTRATOR, DELIVER_CALLBACK_ACTIVITY
from magentic_tasks.schemas import CallbackState

bp = df.Blueprint()

FIRST_DELAY_SECONDS = 5.0
DELAY_FACTOR = 4.0
MAX_DELAY_SECONDS = 3600.0
ACTIVITY_ATTEMPTS = 3
ACTIVITY_RETRY_MS = 5000


def callback_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    payload = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=float(payload["retry_seconds"]))
    delay = FIRST_DELAY_SECONDS
    attempts = 0
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=ACTIVITY_RETRY_MS,
                            max_number_of_attempts=ACTIVITY_ATTEMPTS)
    while True:
        attempts += 1
        try:
            result = yield context.call_activity_with_retry(
                DELIVER_CALLBACK_ACTIVITY, retry, {"url": payload["url"], "event": payload["event"]})
        except Exception:  # the host logged why; its message may quote the URL
            result = {"delivered": False, "status_code": None, "error": "the delivery activity failed"}
        state = CallbackState(
            state="delivered" if result["delivered"] else "pending",
            attempts=attempts,
            last_status_code=result.get("status_code"),
            last_error=result.get("error"),
        )
        next_attempt = context.current_utc_datetime + timedelta(seconds=delay)
        if not result["delivered"] and next_attempt > deadline:
            state = state.model_copy(update={"state": "failed"})
        context.set_custom_status(state.model_dump(mode="json"))
        if state.state != "pending":
            return state.model_dump(mode="json")
        yield context.create_timer(next_attempt)
        delay = min(delay * DELAY_FACTOR, MAX_DELAY_SECONDS)


bp.orchestration_trigger(context_name="context", orchestration=CALLBACK_ORCHESTRATOR)(callback_orchestrator)
