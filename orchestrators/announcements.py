"""Announcing a final outcome: the completion event to every configured sink, then the callback.

`announce` is what the task orchestrator does once its task is final. A terminated orchestration
(a cancel, Durable's own terminate) never gets there, so its task has an announcement orchestration
of its own, `<task_id>:announce` (one per task: its instance id is fixed, `durable.announcement_instance_id`),
started by the cancel and by the reconcile timer: it asks the service (`announcement_activity`)
until the task is settled and its stopped run has recorded its tokens, then announces that outcome
exactly as the task orchestrator would have. It waits with Durable timers (1 s, 2 s, 4 s ... at most
a minute apart, `MAX_CHECKS` times), then announces what is settled by then.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from durable import ANNOUNCE_ORCHESTRATOR, ANNOUNCEMENT_ACTIVITY, START_CALLBACK_ACTIVITY, publish_activity
from magentic_tasks.events import completion_event
from magentic_tasks.schemas import RunOutcome, TaskInput

bp = df.Blueprint()

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
MAX_CHECKS = 30  # about 25 minutes: a crashed run's attempt counts as stopped after TASK_TIMEOUT_SECONDS


def announce(
    context: df.DurableOrchestrationContext, task: TaskInput, outcome: RunOutcome, retry: df.RetryOptions
) -> Generator[Any, Any, None]:
    """Publish the completion event to every configured sink (retried; a sink that keeps failing
    does not change the task's outcome) and start the delivery of its callback, if it has one."""
    if not task.event_sinks and task.callback_url is None:
        return
    event = completion_event(task.task_id, outcome, base_url=task.result_base_url)
    for sink in task.event_sinks:
        with contextlib.suppress(Exception):  # the task is final either way; the host logged the failure
            yield context.call_activity_with_retry(publish_activity(sink), retry, event)
    if task.callback_url is not None:
        delivery = {"task_id": task.task_id, "url": task.callback_url, "event": event,
                    "retry_seconds": task.callback_retry_seconds}
        with contextlib.suppress(Exception):
            yield context.call_activity_with_retry(START_CALLBACK_ACTIVITY, retry, delivery)


def announce_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    task_id = str(context.get_input())
    delay = FIRST_DELAY_SECONDS
    found: dict[str, Any] = {}
    for check in range(1, MAX_CHECKS + 1):
        found = yield context.call_activity(ANNOUNCEMENT_ACTIVITY, task_id)
        if found["state"] != "wait" or check == MAX_CHECKS:
            break
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
        delay = min(delay * 2, MAX_DELAY_SECONDS)
    if found["state"] == "done" or found.get("task") is None or found.get("outcome") is None:
        return {"announced": None}
    task = TaskInput.model_validate(found["task"])
    outcome = RunOutcome.model_validate(found["outcome"])
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=task.first_retry_ms,
                            max_number_of_attempts=task.max_attempts)
    yield from announce(context, task, outcome, retry)
    return {"announced": outcome.status}


bp.orchestration_trigger(context_name="context", orchestration=ANNOUNCE_ORCHESTRATOR)(announce_orchestrator)
