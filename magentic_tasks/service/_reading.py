"""Reading tasks back: status and result, Durable state first, SQLite second, the mirror repaired."""

from __future__ import annotations

import asyncio
import re
from functools import partial

from ..errors import StoreError
from ..lifecycle import settle
from ..schemas import (
    FINAL_STATUSES,
    TASK_ID_PATTERN,
    CallbackState,
    TaskNotFinishedView,
    TaskResultBody,
    TaskResultInfo,
    TaskResultView,
    TaskSnapshot,
    TaskStatusView,
)
from ..store import best_effort
from ._responses import NOT_FOUND, RETRY_AFTER_SECONDS, ApiResponse, error_entry, unavailable
from ._state import ServiceState, logger, task_input_of

_TASK_ID = re.compile(TASK_ID_PATTERN)


class Reading(ServiceState):
    """The service's read paths and the mirror's repair."""

    async def status(self, task_id: str, owner: str | None) -> ApiResponse:
        """`GET /tasks/{task_id}`."""
        found = await self._find(task_id, owner, transcript=False)
        if isinstance(found, ApiResponse):
            return found
        view = TaskStatusView(
            task_id=found.task_id,
            status=found.status,
            prompt=found.prompt,
            created_at=found.created_at,
            updated_at=found.updated_at,
            # While it runs: the progress row its activity writes with each batch of messages (one
            # small SQLite read per poll); null otherwise, and when SQLite cannot be read.
            progress=await best_effort(self.store.task_progress, task_id) if found.status == "running" else None,
            callback=await self._callback(found) if found.has_callback and found.status in FINAL_STATUSES else None,
            plan=found.plan,  # while it awaits input: the plan to review
        )
        # `plan` only while the task awaits input: other statuses keep the original API's shape.
        return ApiResponse(200, view.model_dump(mode="json", exclude=None if view.plan is not None else {"plan"}))

    async def _callback(self, found: TaskSnapshot) -> CallbackState | None:
        """Where the delivery of a finished task's callback stands; None while Durable cannot say."""
        try:
            state = await self.orchestrations.callback_state(found.task_id)
        except Exception as error:
            logger.warning("callback state of %s unavailable: %s", found.task_id, self.redact(str(error)))
            return None
        if state is None:
            return CallbackState(state="pending", attempts=0)  # the delivery has not started yet
        return CallbackState.model_validate(state)

    async def result(self, task_id: str, owner: str | None) -> ApiResponse:
        """`GET /tasks/{task_id}/result`: 200 once finished (failed included), 202 before."""
        found = await self._find(task_id, owner)
        if isinstance(found, ApiResponse):
            return found
        outcome = found.outcome
        if found.status not in FINAL_STATUSES or outcome is None:
            pending = TaskNotFinishedView(task_id=found.task_id, status=found.status, detail="Task is not finished yet")
            return ApiResponse(202, pending.model_dump(mode="json"), {"Retry-After": str(RETRY_AFTER_SECONDS)})
        view = TaskResultView(
            task_id=found.task_id,
            status=found.status,
            result=TaskResultBody(
                messages=outcome.messages,
                task_result=TaskResultInfo(
                    status=outcome.status,
                    stop_reason=outcome.stop_reason,
                    final_answer=outcome.final_answer,
                    error=outcome.error,
                ),
                execution_time=outcome.execution_time,
                usage_by_agent=outcome.usage_by_agent,
                attempts=outcome.attempts,
            ),
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            created_at=found.created_at,
            updated_at=found.updated_at,
            error=outcome.error,
        )
        return ApiResponse(200, view.model_dump(mode="json"))

    async def _find(self, task_id: str, owner: str | None, *, transcript: bool = True) -> TaskSnapshot | ApiResponse:
        """The task as the caller may see it, or the error response; `transcript=False` when the
        caller needs no messages (status, cancel, delete): SQLite then reads one row."""
        if not _TASK_ID.fullmatch(task_id):
            detail = [
                error_entry(("path", "task_id"), f"Task ids match {TASK_ID_PATTERN}", "string_pattern_mismatch")
            ]
            return ApiResponse(422, {"detail": detail})
        durable, durable_ok = await self._durable_snapshot(task_id)
        # SQLite is read only when it can change the answer: Durable lacks the task, or it has
        # finished (SQLite keeps the images, and may need the result copied in). Polls of a running
        # task stay off the file share.
        needs_mirror = durable is None or durable.outcome is not None
        mirrored, mirror_ok = None, True
        if needs_mirror:
            try:
                mirrored = await asyncio.to_thread(partial(self.store.get_task, task_id, transcript=transcript))
            except StoreError as error:
                logger.warning("task mirror unavailable for %s: %s", task_id, self.redact(str(error)))
                mirror_ok = False
        whole = True
        if durable is not None and durable.outcome is not None and (mirrored is None or mirrored.outcome is None):
            durable, whole = await self._with_transcript(durable)  # served, or copied over, from Durable alone
        snapshot = settle(durable, mirrored)
        if snapshot is None:
            # "Not found" only when both stores answered and neither has it: a purged task whose
            # mirror cannot be read right now is unavailable, not gone.
            if not (durable_ok and mirror_ok):
                return unavailable("Task state is unavailable; try again later")
            return ApiResponse(404, {"detail": NOT_FOUND})
        if snapshot.owner is not None and snapshot.owner != owner:
            return ApiResponse(404, {"detail": NOT_FOUND})
        if durable is not None and whole:
            await self._repair_mirror(durable, mirrored)
        return snapshot

    async def reconcile(self, task_ids: list[str]) -> int:
        """Copy finished results that SQLite is missing from Durable state; how many were copied."""
        repaired = 0
        for task_id in task_ids:
            durable, _ = await self._durable_snapshot(task_id)
            if durable is None or durable.outcome is None:
                continue
            mirrored = await best_effort(self.store.get_task, task_id)
            if mirrored is not None and mirrored.outcome is not None:
                continue
            durable, whole = await self._with_transcript(durable)
            if whole:
                repaired += await self._repair_mirror(durable, mirrored)
        return repaired

    async def _with_transcript(self, durable: TaskSnapshot) -> tuple[TaskSnapshot, bool]:
        """A task Durable state holds as finished, with its transcript from the history (the
        orchestration's output has none); and whether the history could be read (a result without
        its transcript is never copied into SQLite)."""
        assert durable.outcome is not None
        try:
            messages = await self.orchestrations.transcript(durable.task_id)
        except Exception as error:
            logger.warning("Durable history of task %s unavailable: %s", durable.task_id, self.redact(str(error)))
            return durable, False
        if not messages:
            return durable, True
        return durable.model_copy(update={"outcome": durable.outcome.model_copy(update={"messages": messages})}), True

    async def _repair_mirror(self, durable: TaskSnapshot, mirrored: TaskSnapshot | None) -> bool:
        """Copy a finished result that SQLite missed (it was locked or unwritable at the time);
        whether anything was copied."""
        if durable.outcome is None or (mirrored is not None and mirrored.outcome is not None):
            return False
        saved = await best_effort(self.store.save_outcome, task_input_of(durable), durable.outcome, None)
        return saved is not None

