"""`Idempotency-Key` replays compare the whole validated request, every field of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.schemas import TaskCreate
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/done"
OTHER_HOOK = "https://hooks.example.com/elsewhere"


@pytest.fixture
def durable() -> InMemoryOrchestrations:
    return InMemoryOrchestrations()


@pytest.fixture
def service(tmp_path: Path, durable: InMemoryOrchestrations) -> TaskService:
    settings = Settings(
        OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        CALLBACK_ALLOWED_HOSTS="hooks.example.com", WEBHOOK_SECRET="whsec_" + "A" * 32,
    )
    ids = iter(f"task-{n}" for n in range(1, 100))
    return TaskService(settings, durable, clock=lambda: NOW, new_id=lambda: next(ids))


def body(**fields: Any) -> bytes:
    return json.dumps({"prompt": "Summarise the notes", "use_aoai": False, **fields}).encode()


async def create(service: TaskService, raw: bytes, key: str = "order-42") -> Any:
    return await answered(service.create(raw, owner=None, idempotency_key=key))


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (body(), body(callback_url=HOOK)),
        (body(callback_url=HOOK), body()),
        (body(callback_url=HOOK), body(callback_url=OTHER_HOOK)),
        (body(), body(review="plan")),
        (body(review="plan"), body()),
    ],
    ids=["callback-added", "callback-dropped", "callback-changed", "review-added", "review-dropped"],
)
async def test_the_same_key_with_any_field_changed_is_a_422(
    service: TaskService, durable: InMemoryOrchestrations, first: bytes, again: bytes
) -> None:
    assert (await create(service, first)).status_code == 202

    reused = await create(service, again)

    assert reused.status_code == 422
    (problem,) = reused.body["detail"]
    assert problem["type"] == "idempotency_key_reused" and problem["loc"] == ["header", "Idempotency-Key"]
    assert len(durable.started) == 1


async def test_the_same_request_spelled_differently_is_replayed(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    first = await create(service, body(callback_url=HOOK, review="plan"))
    spelled_out = body(review="plan", model_name="gpt-4o", callback_url=HOOK, unknown_field="ignored")

    again = await create(service, spelled_out)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true" and again.body["task_id"] == first.body["task_id"]
    assert len(durable.started) == 1


def test_every_request_field_is_part_of_the_comparison() -> None:
    # A field added to TaskCreate later is compared without anyone remembering to add it.
    base = TaskCreate(prompt="x")
    changes = {"prompt": "y", "use_aoai": False, "model_name": "other", "callback_url": HOOK, "review": "plan"}
    for name, value in changes.items():
        assert base.model_copy(update={name: value}).fingerprint() != base.fingerprint(), name
    assert TaskCreate(prompt="x").fingerprint() == TaskCreate(prompt="x", use_aoai=True).fingerprint()

    class Later(TaskCreate):
        priority: int = 0

    assert Later(prompt="x", priority=1).fingerprint() != Later(prompt="x").fingerprint()
