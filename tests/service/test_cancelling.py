"""Cancelling against the race with the run's own result, and the announcement of a terminated task.

Durable sits behind the in-memory `Orchestrations`; SQLite is real. The first final outcome SQLite
records decides the task, and the cancel answers by it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from magentic_tasks.schemas import MessageView, RunOutcome
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BODY = json.dumps({"prompt": "hi", "use_aoai": False}).encode()


@pytest.fixture
def durable() -> InMemoryOrchestrations:
    return InMemoryOrchestrations()


@pytest.fixture
def service(tmp_path: Path, durable: InMemoryOrchestrations) -> TaskService:
    settings = Settings(OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"))
    clock = iter(NOW + timedelta(seconds=n) for n in range(1000))
    return TaskService(settings, durable, clock=lambda: next(clock), new_id=lambda: "task-1")


async def running(service: TaskService, durable: InMemoryOrchestrations) -> int:
    """task-1, its run begun (one attempt streaming) and Durable showing it running."""
    await answered(service.create(BODY, owner=None))
    attempt = service.store.begin_attempt(durable.started["task-1"], NOW)
    durable.snapshots["task-1"] = durable.snapshots["task-1"].model_copy(update={"status": "running"})
    return attempt


async def test_a_cancel_after_the_run_recorded_its_result_is_a_409_and_the_result_is_announced(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    attempt = await running(service, durable)
    completed = RunOutcome(status="completed", final_answer="42", finished_at=NOW)
    service.store.save_outcome(durable.started["task-1"], completed, attempt)  # Durable has not heard yet

    response = await answered(service.cancel("task-1", None))

    assert response.status_code == 409
    assert response.body == {"detail": "Task is already completed; only a pending or running task can be cancelled"}
    status = await answered(service.status("task-1", None))
    assert status.body["status"] == "completed"  # what the 409 said
    assert durable.announced == ["task-1"]  # its terminated orchestration cannot announce it
    service.store.finish_attempt("task-1", attempt, NOW, {}, None)
    found = await service.announcement("task-1")
    assert found.state == "announce" and found.outcome is not None and found.outcome.final_answer == "42"


async def test_a_cancel_recorded_first_decides_even_when_the_run_finishes_right_after(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    attempt = await running(service, durable)

    response = await answered(service.cancel("task-1", None))
    late = RunOutcome(status="completed", final_answer="42", finished_at=NOW)
    held = service.store.save_outcome(durable.started["task-1"], late, attempt)
    again = await answered(service.cancel("task-1", None))

    assert response.status_code == 202 and response.body["status"] == "cancelled"
    assert held.status == "cancelled"  # the run's result comes second and loses
    assert (await answered(service.status("task-1", None))).body["status"] == "cancelled"
    assert again.status_code == 200 and again.body["detail"] == "The task was already cancelled"
    assert durable.announced == ["task-1"]


async def test_the_announcement_waits_for_the_stopped_run_and_announces_what_it_spent(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    attempt = await running(service, durable)
    assert (await answered(service.cancel("task-1", None))).status_code == 202

    waiting = await service.announcement("task-1")
    stopped = RunOutcome(status="cancelled", stop_reason="cancelled", error="cancelled through POST",
                         prompt_tokens=17, finished_at=NOW,
                         messages=[MessageView(source="user", content="hi", type="TextMessage")])
    service.store.finish_attempt("task-1", attempt, NOW, {}, None)
    service.store.save_outcome(durable.started["task-1"], stopped, attempt)  # the stopped run's own record
    ready = await service.announcement("task-1")

    assert waiting.state == "wait"  # its run is still stopping
    assert ready.state == "announce" and ready.outcome is not None
    assert (ready.outcome.status, ready.outcome.prompt_tokens, ready.outcome.messages) == ("cancelled", 17, [])
    assert ready.task is not None and ready.task.task_id == "task-1"


async def test_a_task_whose_orchestration_completed_or_is_gone_needs_no_announcement(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    await answered(service.create(BODY, owner=None))
    durable.finish("task-1", RunOutcome(status="completed", finished_at=NOW))

    assert (await service.announcement("task-1")).state == "done"
    assert (await service.announcement("no-such-task")).state == "done"
    assert await durable.announce("task-1") is False


async def test_a_cancel_that_sqlite_cannot_record_is_decided_by_the_termination(
    service: TaskService, durable: InMemoryOrchestrations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await running(service, durable)
    from magentic_tasks.errors import StoreError

    def locked(*args: object, **kwargs: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(TaskStore, "save_outcome", locked)

    response = await answered(service.cancel("task-1", None))

    assert response.status_code == 202 and durable.announced == ["task-1"]


async def test_reconcile_starts_the_announcement_of_a_task_terminated_outside_the_api(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    await running(service, durable)
    await durable.terminate("task-1", "operator stopped it")  # Durable's own terminate: no cancel call

    await service.reconcile(["task-1"])
    await service.reconcile(["task-1"])

    assert durable.announced == ["task-1"]
