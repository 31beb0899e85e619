"""Who owns a task started from a queue or an event, and who may see it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations


def service_for(tmp_path: Path, *, trusted: bool) -> tuple[TaskService, InMemoryOrchestrations]:
    settings = Settings(OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
                        TRUST_PRINCIPAL_HEADERS=trusted)
    durable = InMemoryOrchestrations()
    return TaskService(settings, durable), durable


def message(**fields: object) -> bytes:
    return json.dumps({"prompt": "from a queue", "use_aoai": False, **fields}).encode()


@pytest.mark.parametrize(("trusted", "owner"), [(True, "service:event-grid"), (False, None)])
async def test_a_message_without_an_owner_belongs_to_its_starter_while_principals_are_trusted(
    tmp_path: Path, trusted: bool, owner: str | None
) -> None:
    service, durable = service_for(tmp_path, trusted=trusted)

    task_id = await service.submit_queued(message(), source="event-grid", message_key="event-grid:evt-1")

    assert task_id is not None and durable.started[task_id].owner == owner
    seen = [(await answered(service.status(task_id, caller))).status_code
            for caller in ("alice", "service:event-grid", None)]
    assert seen == ([404, 404, 404] if trusted else [200, 200, 200])


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_messages_owner_is_the_tasks_owner(tmp_path: Path, trusted: bool) -> None:
    service, durable = service_for(tmp_path, trusted=trusted)

    task_id = await service.submit_queued(message(owner="alice", task_id="t-1"), source="service-bus")

    assert task_id == "t-1" and durable.started["t-1"].owner == "alice"
    assert [(await answered(service.status("t-1", caller))).status_code for caller in ("alice", "bob", None)] == [
        200, 404, 404]


@pytest.mark.parametrize("owner", ["", "a\nb", "x" * 257, 7])
async def test_a_malformed_owner_makes_the_message_invalid(tmp_path: Path, owner: object) -> None:
    service, durable = service_for(tmp_path, trusted=True)
    from magentic_tasks.service import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        await service.submit_queued(message(owner=owner), source="storage-queue", message_key="storage-queue:m-1")

    assert refused.value.detail[0]["loc"] == ["body", "owner"] and durable.started == {}
