"""Per-task team options: capped by the server's settings, resolved at creation, shown in the status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.schemas import TeamOptions
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations, row_count

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def service_with(tmp_path: Path, **values: Any) -> tuple[TaskService, InMemoryOrchestrations]:
    settings = Settings(OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
                        MAX_TURNS=20, TASK_TIMEOUT_SECONDS=540, ENABLE_WEB_SURFER="false", **values)
    durable = InMemoryOrchestrations()
    ids = iter(f"task-{n}" for n in range(1, 100))
    return TaskService(settings, durable, clock=lambda: NOW, new_id=lambda: next(ids)), durable


def body(**fields: Any) -> bytes:
    return json.dumps({"prompt": "hi", "use_aoai": False, **fields}).encode()


async def test_a_task_without_options_runs_with_the_servers_team_and_limits(tmp_path: Path) -> None:
    service, durable = service_with(tmp_path, MAX_TOKENS_PER_TASK=5000)
    assert (await answered(service.create(body(), None))).status_code == 202

    assert durable.started["task-1"].team == TeamOptions(
        agents=("files", "code"), max_turns=20, max_tokens=5000, deadline_seconds=540)
    status = (await answered(service.status("task-1", None))).body
    assert status["team"] == {"agents": ["files", "code"], "max_turns": 20, "max_tokens": 5000,
                              "deadline_seconds": 540.0}


async def test_options_within_the_caps_are_the_tasks_own_and_shown_in_its_status(tmp_path: Path) -> None:
    service, durable = service_with(tmp_path, MAX_TOKENS_PER_TASK=5000)
    options = {"agents": ["code"], "max_turns": 5, "max_tokens": 1200, "deadline_seconds": 60}
    assert (await answered(service.create(body(**options), None))).status_code == 202

    assert durable.started["task-1"].team == TeamOptions(
        agents=("code",), max_turns=5, max_tokens=1200, deadline_seconds=60)
    assert (await answered(service.status("task-1", None))).body["team"] == {**options, "deadline_seconds": 60.0}


@pytest.mark.parametrize(("field", "value", "named"), [
    ("max_turns", 21, "at most 20 on this server (MAX_TURNS)"),
    ("deadline_seconds", 541, "at most 540 on this server (TASK_TIMEOUT_SECONDS)"),
    ("max_tokens", 5001, "at most 5000 on this server (MAX_TOKENS_PER_TASK)"),
])
async def test_an_option_past_the_servers_cap_is_a_422_naming_the_cap_and_starts_nothing(
    tmp_path: Path, field: str, value: int, named: str
) -> None:
    service, durable = service_with(tmp_path, MAX_TOKENS_PER_TASK=5000)
    response = await answered(service.create(body(**{field: value}), None))

    assert response.status_code == 422
    (problem,) = response.body["detail"]
    assert (problem["loc"], problem["type"]) == (["body", field], "cap_exceeded")
    assert named in problem["msg"]
    assert durable.started == {} and row_count(service.store) == 0


async def test_without_a_server_budget_a_task_may_set_any_token_budget(tmp_path: Path) -> None:
    service, durable = service_with(tmp_path)
    assert (await answered(service.create(body(max_tokens=10**9), None))).status_code == 202
    assert durable.started["task-1"].team is not None and durable.started["task-1"].team.max_tokens == 10**9


@pytest.mark.parametrize(("agents", "kind"), [
    (["web"], "agent_unavailable"),  # this server has no WebSurfer
    (["code", "code"], "value_error"),
    ([], "too_short"),
    (["coder"], "literal_error"),
])
async def test_agents_must_be_ones_this_server_has_each_once(tmp_path: Path, agents: list[str], kind: str) -> None:
    service, durable = service_with(tmp_path)
    response = await answered(service.create(body(agents=agents), None))

    assert response.status_code == 422 and response.body["detail"][0]["type"] == kind
    assert response.body["detail"][0]["loc"][:2] == ["body", "agents"]
    assert durable.started == {}


@pytest.mark.parametrize("field", ["max_turns", "max_tokens", "deadline_seconds"])
@pytest.mark.parametrize("value", [0, -1, "many"])
async def test_an_option_that_is_no_positive_number_is_a_422(tmp_path: Path, field: str, value: object) -> None:
    service, durable = service_with(tmp_path)
    response = await answered(service.create(body(**{field: value}), None))
    assert response.status_code == 422 and response.body["detail"][0]["loc"] == ["body", field]
    assert durable.started == {}


async def test_an_idempotency_key_reused_with_other_options_is_a_422(tmp_path: Path) -> None:
    service, durable = service_with(tmp_path)
    first = await answered(service.create(body(max_turns=5), None, "key-1"))
    again = await answered(service.create(body(max_turns=5), None, "key-1"))
    other = await answered(service.create(body(max_turns=6), None, "key-1"))

    assert (first.status_code, again.status_code, again.headers.get("Idempotent-Replayed")) == (202, 202, "true")
    assert other.status_code == 422 and other.body["detail"][0]["type"] == "idempotency_key_reused"
    assert len(durable.started) == 1


async def test_a_queued_message_takes_the_same_options(tmp_path: Path) -> None:
    service, durable = service_with(tmp_path)
    task_id = await service.submit_queued(body(task_id="order-1", agents=["files"], deadline_seconds=30))

    assert task_id == "order-1"
    assert durable.started["order-1"].team == TeamOptions(
        agents=("files",), max_turns=20, max_tokens=None, deadline_seconds=30)
