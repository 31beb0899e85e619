"""Plan review input: exactly one decision wins, however many arrive at once and from wherever.

The first decision SQLite records for the plan under review wins (the reviewer's, or the expiry
the next slice records); only the winner is raised to the orchestration, the others get a 409
that names the decision taken. Durable sits behind the in-memory `Orchestrations`; SQLite is real."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from magentic_tasks.schemas import ReviewDecision
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
APPROVE, REJECT = {"action": "approve"}, {"action": "reject"}


@pytest.fixture
def durable() -> InMemoryOrchestrations:
    return InMemoryOrchestrations()


@pytest.fixture
async def service(tmp_path: Path, durable: InMemoryOrchestrations) -> TaskService:
    """task-1, its plan awaiting review: its attempt paused, Durable showing `awaiting_input`."""
    settings = Settings(OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"))
    service = TaskService(settings, durable, clock=lambda: NOW, new_id=lambda: "task-1")
    body = json.dumps({"prompt": "hi", "use_aoai": False, "review": "plan"}).encode()
    await answered(service.create(body, owner=None))
    service.store.begin_attempt(durable.started["task-1"], NOW)
    durable.snapshots["task-1"] = durable.snapshots["task-1"].model_copy(
        update={"status": "awaiting_input", "plan": "the plan"})
    return service


async def submit(service: TaskService, body: dict[str, object]) -> tuple[int, object]:
    response = await answered(service.submit_input("task-1", None, json.dumps(body).encode()))
    return response.status_code, response.body


async def test_of_two_inputs_at_once_exactly_one_wins_and_the_other_hears_which(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    answers = await asyncio.gather(submit(service, APPROVE), submit(service, REJECT))

    codes = sorted(code for code, _ in answers)
    assert codes == [202, 409]
    (won,) = [body for code, body in answers if code == 202]
    (lost,) = [body for code, body in answers if code == 409]
    action = "approve" if won["detail"].startswith("Plan approved") else "reject"  # type: ignore[index]
    assert lost == {"detail": f"The plan was already {'approved' if action == 'approve' else 'rejected'}; "
                              "this input was not applied"}
    assert [decision.action for _, decision in durable.plan_inputs] == [action]  # only the winner is raised


async def test_the_same_decision_again_is_accepted_again(service: TaskService, durable: InMemoryOrchestrations) -> None:
    revise = {"action": "revise", "plan": "my plan"}
    assert (await submit(service, revise))[0] == 202
    assert (await submit(service, revise))[0] == 202  # a retry of the same input: idempotent
    assert (await submit(service, {"action": "revise", "plan": "another plan"}))[0] == 409
    assert len(durable.plan_inputs) == 2 and {d.plan for _, d in durable.plan_inputs} == {"my plan"}


async def test_a_late_input_names_the_decision_taken_also_once_the_task_has_moved_on(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    assert (await submit(service, REJECT))[0] == 202
    durable.snapshots["task-1"] = durable.snapshots["task-1"].model_copy(update={"status": "running", "plan": None})

    assert await submit(service, APPROVE) == (409, {
        "detail": "The plan was already rejected; this input was not applied"})


async def test_an_expiry_recorded_first_wins_over_a_reviewer(service: TaskService) -> None:
    expired = service.store.decide_review("task-1", ReviewDecision(action="expired"), NOW, None)

    assert expired.action == "expired"
    assert await submit(service, APPROVE) == (409, {
        "detail": "The plan review had already expired; this input was not applied"})
