"""Completion events: one CloudEvents 1.0 event per task that reaches a final state.

The event says what happened and where to read the result, never the transcript, the model's words
or anything the caller sent (prompt, callback URL): sinks are shared with other consumers. Why the
run ended is a fixed `stop_code` (magentic_tasks/stop_codes.py), not the stop reason's text. Its id is derived from
the task and its outcome, so every retry of a publish carries the same id and consumers can
de-duplicate.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .clock import iso
from .schemas import RunOutcome
from .stop_codes import StopCode, stop_code

SPEC_VERSION = "1.0"
EVENT_SOURCE = "/magentic-tasks"
EVENT_TYPES: dict[str, str] = {
    "completed": "magentic.task.completed",
    "failed": "magentic.task.failed",
    "cancelled": "magentic.task.cancelled",
}
_EVENT_IDS = uuid.UUID("a3d2b4f0-51c6-4f7e-9a0b-2e6c8d1f7b35")


class CompletionData(BaseModel):
    """The `data` of a completion event."""

    model_config = ConfigDict(defer_build=True)  # built on the first event, not when the app loads

    task_id: str
    status: Literal["completed", "failed", "cancelled"]
    stop_code: StopCode
    prompt_tokens: int
    completion_tokens: int
    execution_time: float
    status_url: str
    result_url: str


def event_id(task_id: str, outcome: RunOutcome) -> str:
    """Stable for one task's one outcome: the same on every retry of the publish."""
    return str(uuid.uuid5(_EVENT_IDS, f"{task_id}\n{outcome.status}\n{iso(outcome.finished_at)}"))


def completion_event(task_id: str, outcome: RunOutcome, *, base_url: str = "") -> dict[str, Any]:
    """The structured-mode CloudEvent (JSON) for `outcome`; URLs are relative unless `base_url` is given."""
    base = base_url.rstrip("/")
    data = CompletionData(
        task_id=task_id,
        status=outcome.status,
        stop_code=stop_code(outcome.status, outcome.stop_reason),
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        execution_time=outcome.execution_time,
        status_url=f"{base}/tasks/{task_id}",
        result_url=f"{base}/tasks/{task_id}/result",
    )
    return {
        "specversion": SPEC_VERSION,
        "id": event_id(task_id, outcome),
        "source": EVENT_SOURCE,
        "type": EVENT_TYPES[outcome.status],
        "subject": f"tasks/{task_id}",
        "time": iso(outcome.finished_at),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json"),
    }
