"""A task's lifecycle as Durable state records it, mapped onto the API's statuses.

The orchestrator publishes `{"status": ...}` as its custom status and returns a `RunOutcome` as its
output; this module reads those back. It takes plain values, so it needs no Azure imports.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .clock import utc_now
from .schemas import MAX_ERROR_CHARS, RunOutcome, TaskInput, TaskSnapshot, TaskStatus

_IN_PROGRESS: dict[str, TaskStatus] = {
    "Pending": "pending",
    "Running": "running",
    "ContinuedAsNew": "running",
    "Suspended": "running",
}


def custom_status(status: TaskStatus) -> dict[str, str]:
    """The orchestrator's custom status payload (kept tiny: the limit is 16 KB)."""
    return {"status": status}


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
    if runtime_status == "Completed":
        try:
            outcome = RunOutcome.model_validate(output)
        except ValidationError:
            outcome = _crash_outcome(f"orchestration returned an unreadable result: {str(output)[:200]}", updated_at)
        # The time the result was made, as SQLite records it: the host's lastUpdatedTime has only
        # whole seconds, so a purged task would otherwise change its updated_at.
        updated_at = outcome.finished_at
        status: TaskStatus = outcome.status
    elif runtime_status in ("Failed", "Terminated", "Canceled"):
        reason = str(output) if output else f"orchestration {runtime_status.lower()}"
        outcome = _crash_outcome(reason, updated_at)
        status = "failed"
    else:
        status = _IN_PROGRESS.get(runtime_status, "running")
        if isinstance(custom, dict) and custom.get("status") in ("pending", "running"):
            status = custom["status"]
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
    )


def _crash_outcome(error: str, at: datetime | None) -> RunOutcome:
    return RunOutcome(status="failed", error=error[:MAX_ERROR_CHARS], stop_reason="error", finished_at=at or utc_now())
