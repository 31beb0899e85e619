"""Reviewing a task's plan: `POST /tasks/{id}/input`.

A task created with `"review": "plan"` pauses once its orchestrator has gathered facts and made a
plan: its run activity returns, the orchestration shows `awaiting_input` with the plan (custom
status) and waits for Durable's `plan_input` event or its timer, so nothing runs while a person
reads. The input is validated here and raised as that event; the orchestrator hands the decision
to the next slice, which goes on with the plan (approved, or the reviewer's), or ends the task
`cancelled` (rejected). A cancel while it waits terminates the orchestration, as for any task.
"""

from __future__ import annotations

from pydantic import ValidationError

from ..schemas import PlanInput, TaskInputAccepted
from ._errors import Conflict, InvalidRequest, Unavailable, validation_detail
from ._parsing import parse_json_object
from ._reader import TaskReader, logger

MAX_INPUT_BYTES = 20_000 * 12 + 1024  # a 20,000-character plan, every character escaped at worst

_DETAIL = {
    "approve": "Plan approved; the run goes on",
    "revise": "Plan revised; the run goes on with the given plan",
    "reject": "Plan rejected; the task ends cancelled",
}


async def submit_input(reader: TaskReader, task_id: str, owner: str | None, body: bytes) -> TaskInputAccepted:
    """Hand the reviewer's input to the waiting task; `Conflict` when the task is not awaiting input."""
    found = await reader.find(task_id, owner)
    try:
        decision = PlanInput.model_validate(parse_json_object(body, MAX_INPUT_BYTES))
    except ValidationError as error:
        raise InvalidRequest(validation_detail(error, "body")) from None
    if found.status != "awaiting_input":
        raise Conflict(f"Task is {found.status}; only a task awaiting input takes input")
    try:
        await reader.orchestrations.submit_plan_input(task_id, decision)
    except Exception as error:  # the host is unreachable, or the instance ended meanwhile
        logger.warning("task %s: raising the plan input failed: %s", task_id, reader.redact(str(error)))
        raise Unavailable("The input could not be delivered; try again later") from None
    return TaskInputAccepted(task_id=task_id, status=found.status, detail=_DETAIL[decision.action])
