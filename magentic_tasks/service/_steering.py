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

from ..schemas import TaskCancelled, TaskSnapshot
from ..stop_signal import CANCEL_REASON
from ._reading import Reading
from ._responses import ApiResponse, unavailable
from ._state import logger


class Steering(Reading):
    """`POST /tasks/{id}/cancel`."""

    async def cancel(self, task_id: str, owner: str | None) -> ApiResponse:
        """202 when this request cancelled the task, 200 when it was cancelled already, 409 when it
        had finished otherwise; 404/422/503 as for reads."""
        found = await self._find(task_id, owner, transcript=False)
        if isinstance(found, ApiResponse):
            return found
        if found.status in ("pending", "running", "awaiting_input"):
            try:
                await self.orchestrations.terminate(task_id, CANCEL_REASON.format(task_id=task_id))
            except Exception as error:  # the host is unreachable, or answered something unexpected
                logger.warning("task %s: terminate failed: %s", task_id, self.redact(str(error)))
                return await self._after_race(task_id, owner)
            # The host answers 410 without an error when the task finished meanwhile: ask again.
            durable, _ = await self._durable_snapshot(task_id)
            if durable is None or durable.status != "cancelled":
                return await self._after_race(task_id, owner)
            logger.info("task %s cancelled by request", task_id)
            # Mirror the cancel now: the stopped run completes it with its transcript and tokens.
            await self._repair_mirror(durable, None)
            return _answer(202, task_id, "cancelled", "Cancelled; the run stops within seconds")
        return _settled(found)

    async def _after_race(self, task_id: str, owner: str | None) -> ApiResponse:
        found = await self._find(task_id, owner, transcript=False)
        if isinstance(found, ApiResponse):
            return found
        if found.status in ("pending", "running", "awaiting_input"):
            return unavailable("The task could not be cancelled; try again later")
        return _settled(found)


def _settled(found: TaskSnapshot) -> ApiResponse:
    if found.status == "cancelled":
        return _answer(200, found.task_id, "cancelled", "The task was already cancelled")
    detail = f"Task is already {found.status}; only a pending or running task can be cancelled"
    return ApiResponse(409, {"detail": detail})


def _answer(code: int, task_id: str, status: str, detail: str) -> ApiResponse:
    view = TaskCancelled.model_validate({"task_id": task_id, "status": status, "detail": detail})
    return ApiResponse(code, view.model_dump(mode="json"))
