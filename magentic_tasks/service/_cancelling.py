"""Cancelling a task: `POST /tasks/{id}/cancel`.

A cancel terminates the task's orchestration with `CANCEL_REASON`. Termination is Durable's own,
instance-wide record that the task is over: it is visible at once from every instance of the app
(the HTTP function and the activity run on different ones under scale-out), it needs no change to
the orchestrator (in-flight histories replay unchanged), and it also ends a task that is pending or
waiting between retries, where no activity is running to notice anything. The running activity
polls its orchestration's status every `CANCEL_POLL_SECONDS`, sees `Terminated` and cancels the
team through its `CancellationToken`; it records `cancelled` with the transcript and tokens so far.
A terminate through Durable's own API is the same signal and ends the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schemas import CANCEL_REASON, TaskCancelled, TaskSnapshot
from ._errors import Conflict, Unavailable
from ._reader import TaskReader, logger

_UNFINISHED = ("pending", "running", "awaiting_input")


@dataclass(frozen=True)
class Cancellation:
    """The task is cancelled: by this request (`now`), or it already was."""

    view: TaskCancelled
    now: bool


async def cancel(reader: TaskReader, task_id: str, owner: str | None) -> Cancellation:
    """Cancel an unfinished task; `Conflict` when it had finished otherwise."""
    found = await reader.find(task_id, owner, transcript=False)
    if found.status not in _UNFINISHED:
        return _settled(found)
    try:
        await reader.orchestrations.terminate(task_id, CANCEL_REASON.format(task_id=task_id))
    except Exception as error:  # the host is unreachable, or answered something unexpected
        logger.warning("task %s: terminate failed: %s", task_id, reader.redact(str(error)))
        return await _after_race(reader, task_id, owner)
    # The host answers 410 without an error when the task finished meanwhile: ask again.
    durable, _ = await reader.durable_snapshot(task_id)
    if durable is None or durable.status != "cancelled":
        return await _after_race(reader, task_id, owner)
    logger.info("task %s cancelled by request", task_id)
    # Mirror the cancel now: the stopped run completes it with its transcript and tokens.
    await reader.repair_mirror(durable, None)
    return Cancellation(_view(task_id, "Cancelled; the run stops within seconds"), now=True)


async def _after_race(reader: TaskReader, task_id: str, owner: str | None) -> Cancellation:
    found = await reader.find(task_id, owner, transcript=False)
    if found.status in _UNFINISHED:
        raise Unavailable("The task could not be cancelled; try again later")
    return _settled(found)


def _settled(found: TaskSnapshot) -> Cancellation:
    if found.status == "cancelled":
        return Cancellation(_view(found.task_id, "The task was already cancelled"), now=False)
    raise Conflict(f"Task is already {found.status}; only a pending or running task can be cancelled")


def _view(task_id: str, detail: str) -> TaskCancelled:
    return TaskCancelled.model_validate({"task_id": task_id, "status": "cancelled", "detail": detail})
