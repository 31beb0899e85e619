"""Reviewing a task's plan: `POST /tasks/{id}/input`.

A task created with `"review": "plan"` pauses once its orchestrator has gathered facts and made a
plan: its run activity returns, the orchestration shows `awaiting_input` with the plan (custom
status) and waits for Durable's `plan_input` event or its timer, so nothing runs while a person
reads. The input is validated here and raised as that event; the orchestrator hands the decision
to the next slice, which goes on with the plan (approved, or the reviewer's), or ends the task
`cancelled` (rejected). A cancel while it waits terminates the orchestration, as for any task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from ..lifecycle import PLAN_INPUT_EVENT
from ..schemas import PlanInput, TaskInputAccepted
from ._parsing import parse_json_object
from ._reading import Reading
from ._responses import ApiResponse, InvalidRequest, unavailable, validation_detail
from ._state import logger

MAX_INPUT_BYTES = 20_000 * 12 + 1024  # a 20,000-character plan, every character escaped at worst
# Raises an external event on an orchestration: (instance id, event name, data).
RaiseEvent = Callable[[str, str, Any], Awaitable[Any]]

_DETAIL = {
    "approve": "Plan approved; the run goes on",
    "revise": "Plan revised; the run goes on with the given plan",
    "reject": "Plan rejected; the task ends cancelled",
}


class Reviewing(Reading):
    """`POST /tasks/{id}/input`."""

    async def submit_input(self, task_id: str, owner: str | None, body: bytes, raise_event: RaiseEvent) -> ApiResponse:
        """202 when the input was handed to the waiting task; 409 when the task is not awaiting
        input; 404/422/503 as for reads."""
        found = await self._find(task_id, owner)
        if isinstance(found, ApiResponse):
            return found
        try:
            decision = PlanInput.model_validate(parse_json_object(body, MAX_INPUT_BYTES))
        except InvalidRequest as invalid:
            return ApiResponse(invalid.status_code, {"detail": invalid.detail})
        except ValidationError as error:
            return ApiResponse(422, {"detail": validation_detail(error, "body")})
        if found.status != "awaiting_input":
            return ApiResponse(409, {"detail": f"Task is {found.status}; only a task awaiting input takes input"})
        try:
            await raise_event(task_id, PLAN_INPUT_EVENT, decision.model_dump(mode="json", exclude_none=True))
        except Exception as error:  # the host is unreachable, or the instance ended meanwhile
            logger.warning("task %s: raising the plan input failed: %s", task_id, self.redact(str(error)))
            return unavailable("The input could not be delivered; try again later")
        view = TaskInputAccepted(task_id=task_id, status=found.status, detail=_DETAIL[decision.action])
        return ApiResponse(202, view.model_dump(mode="json"))
