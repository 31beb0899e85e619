"""Cancelling a task: `POST /tasks/{id}/cancel`.

A cancel terminates the task's orchestration with `CANCEL_REASON`. Termination is Durable's own,
instance-wide record that the task is over: it reaches the task from every instance of the app (the
HTTP function and the activity run on different ones under scale-out), needs no change to the
orchestrator (in-flight histories replay unchanged), and also ends a task that is pending, waiting
for review, between slices or between retries, where no activity is running to notice anything. The
running activity polls its orchestration's status every `CANCEL_POLL_SECONDS`, sees `Terminated` and
cancels the team through its `CancellationToken`; it records `cancelled` with the transcript and
tokens so far. A terminate through Durable's own API is the same signal and ends the same way.

Who wins: the run may have finished (its result recorded) just before the cancel came, while its
orchestration had not heard of it yet. The first final outcome SQLite records decides, whichever
writer it comes from (`TaskStore.save_outcome`): the cancel writes its own right after the
terminate and answers by what SQLite then holds, `202` only when the cancel decided the task, a
`409` with the run's status otherwise. Settled reads serve the same (`settle`). Either way the
terminated orchestration announces nothing, so the cancel starts the task's announcement
(`_announcing`), which publishes the settled outcome once the run has stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..schemas import CANCEL_REASON, MAX_ERROR_CHARS, STOPPED, RunOutcome, TaskCancelled, TaskSnapshot
from ..store import best_effort
from ._errors import Conflict, Unavailable
from ._reader import TaskReader, logger, task_input_of

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
    reason = CANCEL_REASON.format(task_id=task_id)
    try:
        await reader.orchestrations.terminate(task_id, reason)
        # The host answers 410 without an error when the orchestration finished meanwhile; and a
        # real host carries a termination out asynchronously: `running` until it has.
        ending, _ = await reader.orchestrations.ending(task_id)
    except Exception as error:  # the host is unreachable, or answered something unexpected
        logger.warning("task %s: terminate failed: %s", task_id, reader.redact(str(error)))
        return await _after_race(reader, task_id, owner)
    if ending in ("completed", "missing"):  # it had ended by itself (and announced it)
        return await _after_race(reader, task_id, owner)
    ours = RunOutcome(status="cancelled", error=reason[:MAX_ERROR_CHARS], stop_reason=STOPPED,
                      finished_at=reader.clock())
    held = await best_effort(reader.store.save_outcome, task_input_of(found), ours, None)
    await _announce(reader, task_id)
    if held is None:  # SQLite cannot say who was first: the termination Durable carried out decides
        if ending != "terminated":
            raise Unavailable("The cancel could not be confirmed; ask again")
        held = ours
    if held.status != "cancelled":
        raise Conflict(_finished(held.status))
    if (held.finished_at, held.error) != (ours.finished_at, ours.error):
        return Cancellation(_view(task_id, "The task was already cancelled"), now=False)
    logger.info("task %s cancelled by request", task_id)
    return Cancellation(_view(task_id, "Cancelled; the run stops within seconds"), now=True)


async def _announce(reader: TaskReader, task_id: str) -> None:
    """Start the terminated task's announcement; a failure is logged (the reconcile timer starts it)."""
    try:
        await reader.orchestrations.announce(task_id)
    except Exception as error:
        logger.warning("task %s: its announcement could not be started: %s", task_id, reader.redact(str(error)))


async def _after_race(reader: TaskReader, task_id: str, owner: str | None) -> Cancellation:
    found = await reader.find(task_id, owner, transcript=False)
    if found.status in _UNFINISHED:
        raise Unavailable("The task could not be cancelled; try again later")
    return _settled(found)


def _settled(found: TaskSnapshot) -> Cancellation:
    if found.status == "cancelled":
        return Cancellation(_view(found.task_id, "The task was already cancelled"), now=False)
    raise Conflict(_finished(found.status))


def _finished(status: str) -> str:
    return f"Task is already {status}; only a pending or running task can be cancelled"


def _view(task_id: str, detail: str) -> TaskCancelled:
    return TaskCancelled.model_validate({"task_id": task_id, "status": "cancelled", "detail": detail})
