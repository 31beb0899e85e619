"""Reviewing a task's plan: `POST /tasks/{id}/input`.

A task created with `"review": "plan"` pauses once its orchestrator has gathered facts and made a
plan: its run activity returns, the orchestration shows `awaiting_input` with the plan (custom
status) and waits for Durable's `plan_input` event or its timer, so nothing runs while a person
reads. The next slice goes on with the plan (approved, or the reviewer's), or ends the task
`cancelled` (rejected, or the review expired). A cancel while it waits terminates the orchestration,
as for any task.

Exactly one decision is taken on a plan. Durable's external events are no lock (two inputs raised
at once are both delivered; the orchestration takes one), so the decision is recorded in SQLite,
first writer wins (`TaskStore.decide_review`), before it is raised: only the input that won is
raised and answered `202` (the same input again too: a retry is harmless); any other gets a `409`
naming the decision taken. The next slice applies the recorded decision, also when the review timer
beat the event (`run._attempt`), and records `expired` itself when no input came in time.
"""

from __future__ import annotations

from pydantic import ValidationError

from ..schemas import PlanInput, ReviewDecision, TaskInputAccepted
from ..store import best_effort
from ._errors import Conflict, InvalidRequest, Unavailable, validation_detail
from ._parsing import parse_json_object
from ._reader import TaskReader, logger

MAX_INPUT_BYTES = 20_000 * 12 + 1024  # a 20,000-character plan, every character escaped at worst

_DETAIL = {
    "approve": "Plan approved; the run goes on",
    "revise": "Plan revised; the run goes on with the given plan",
    "reject": "Plan rejected; the task ends cancelled",
}
_TAKEN = {
    "approve": "The plan was already approved",
    "revise": "The plan was already revised",
    "reject": "The plan was already rejected",
    "expired": "The plan review had already expired",
}


async def submit_input(reader: TaskReader, task_id: str, owner: str | None, body: bytes) -> TaskInputAccepted:
    """Hand the reviewer's input to the waiting task; `Conflict` when the task is not awaiting input
    or another decision was taken on its plan."""
    found = await reader.find(task_id, owner)
    try:
        decision = PlanInput.model_validate(parse_json_object(body, MAX_INPUT_BYTES))
    except ValidationError as error:
        raise InvalidRequest(validation_detail(error, "body")) from None
    if found.status != "awaiting_input":
        taken = await best_effort(reader.store.review_decision, task_id)
        raise Conflict(_taken(taken) if taken else f"Task is {found.status}; only a task awaiting input takes input")
    wanted = ReviewDecision(action=decision.action, plan=decision.plan)
    taken = await best_effort(reader.store.decide_review, task_id, wanted, reader.clock(), None)
    if taken is None:
        raise Unavailable("The input could not be recorded; try again later")
    if taken != wanted:
        raise Conflict(_taken(taken))
    try:
        await reader.orchestrations.submit_plan_input(task_id, decision)
    except Exception as error:  # the host is unreachable, or the instance ended meanwhile
        # The decision stands (the next slice applies it, at the latest when the review times out);
        # the same input again raises it again.
        logger.warning("task %s: raising the plan input failed: %s", task_id, reader.redact(str(error)))
        raise Unavailable("The input could not be delivered; try again later") from None
    return TaskInputAccepted(task_id=task_id, status=found.status, detail=_DETAIL[decision.action])


def _taken(decision: ReviewDecision) -> str:
    return f"{_TAKEN[decision.action]}; this input was not applied"
