"""The codec between Durable state and the task's: what the orchestrator writes, read back.

The orchestrator publishes `{"status": ...}` as its custom status (`custom_status`) and returns a
`RunOutcome` without its transcript as its output; the transcript is in the history once, as the
run activity's result (`transcript_in_history`). `snapshot_from_durable` maps an instance onto the
API's statuses. Plain values in and out: no Azure imports.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from magentic_tasks.clock import utc_now
from magentic_tasks.schemas import (
    MAX_ERROR_CHARS,
    STOPPED,
    MessageView,
    RunOutcome,
    TaskInput,
    TaskSnapshot,
    TaskStatus,
)

_IN_PROGRESS: dict[str, TaskStatus] = {
    "Pending": "pending",
    "Running": "running",
    "ContinuedAsNew": "running",
    "Suspended": "running",
}


# The most of a plan under review the custom status carries, as JSON (the custom status limit is 16 KB).
MAX_PLAN_JSON_BYTES = 12_000


def custom_status(status: TaskStatus, plan: str | None = None) -> dict[str, str]:
    """The orchestrator's custom status payload (kept small: the limit is 16 KB): the status, and
    while it awaits input the plan under review."""
    if plan is None:
        return {"status": status}
    cut = len(plan)
    while (size := len(json.dumps(plan[:cut]))) > MAX_PLAN_JSON_BYTES:  # escapes make a char up to 12 bytes
        cut = cut * MAX_PLAN_JSON_BYTES // size - 1
    return {"status": status, "plan": plan[:cut]}


def snapshot_from_durable(
    *,
    instance_id: str,
    runtime_status: str | None,
    input_: Any,
    custom: Any,
    output: Any,
    created: datetime | None,
    updated: datetime | None,
) -> TaskSnapshot | None:
    """The task as Durable state knows it; None when Durable has no such instance (or not ours)."""
    if runtime_status is None:
        return None
    if isinstance(input_, str):  # some hosts hand the input back as its JSON text
        try:
            input_ = json.loads(input_)
        except ValueError:
            return None
    try:
        task = TaskInput.model_validate(input_)
    except ValidationError:
        return None  # an instance this service did not start
    created_at = task.created_at
    updated_at = updated or created or created_at
    outcome: RunOutcome | None = None
    plan: str | None = None
    if runtime_status == "Completed":
        try:
            outcome = RunOutcome.model_validate(output)
        except ValidationError:
            outcome = _crash_outcome(f"orchestration returned an unreadable result: {str(output)[:200]}", updated_at)
        # The time the result was made, as SQLite records it: the host's lastUpdatedTime has only
        # whole seconds, so a purged task would otherwise change its updated_at.
        updated_at = outcome.finished_at
        status: TaskStatus = outcome.status
    elif runtime_status in ("Terminated", "Canceled"):
        # Cancelled through the API (which terminates) or terminated through Durable's own API: both
        # are a cancel. The time it ended is updated_at (whole seconds); the stopped run's own
        # record in SQLite (transcript and tokens so far) completes this one (`settle`).
        reason = str(output) if output else "orchestration terminated"
        outcome = RunOutcome(status="cancelled", error=reason[:MAX_ERROR_CHARS], stop_reason=STOPPED,
                             finished_at=updated_at)
        status = "cancelled"
    elif runtime_status == "Failed":
        outcome = _crash_outcome(str(output) if output else "orchestration failed", updated_at)
        status = "failed"
    else:
        status = _IN_PROGRESS.get(runtime_status, "running")
        if isinstance(custom, dict) and custom.get("status") in ("pending", "running", "awaiting_input"):
            status = custom["status"]
            if status == "awaiting_input" and isinstance(custom.get("plan"), str):
                plan = custom["plan"]
    return TaskSnapshot(
        task_id=instance_id,
        status=status,
        prompt=task.prompt,
        use_aoai=task.use_aoai,
        model_name=task.model_name,
        owner=task.owner,
        created_at=created_at,
        updated_at=updated_at,
        outcome=outcome,
        has_callback=task.callback_url is not None,
        plan=plan,
        team=task.team,
        request_fingerprint=task.request_fingerprint,
        files=task.files,
    )


def transcript_in_history(events: Sequence[Any], activities: Collection[str]) -> list[MessageView] | None:
    """The transcript of a finished run as Durable's history holds it: the messages of the last
    completed call of one of `activities` (the run activity, the failure recorder) whose result is
    an outcome. The host gives `historyEvents` with `showHistoryOutput`, each result as JSON (or its
    text). None when the history holds no such result."""
    for event in reversed(events):
        if not isinstance(event, dict) or event.get("EventType") != "TaskCompleted":
            continue
        if event.get("FunctionName") not in activities:
            continue
        result = event.get("Result")
        if isinstance(result, str):
            try:
                result = json.loads(result)
            except ValueError:
                continue
        if not isinstance(result, dict) or result.get("status") == "paused":
            continue
        try:
            return RunOutcome.model_validate(result).messages
        except ValidationError:
            continue
    return None


def _crash_outcome(error: str, at: datetime | None) -> RunOutcome:
    return RunOutcome(status="failed", error=error[:MAX_ERROR_CHARS], stop_reason="error", finished_at=at or utc_now())
