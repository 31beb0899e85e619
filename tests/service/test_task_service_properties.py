"""Property-based: whatever body or id a client sends, the service answers 2xx/4xx, never 5xx,
never raises, and a rejected request leaves no row and starts nothing."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from tests.support.in_memory import InMemoryOrchestrations, row_count

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
task_bodies = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.text(max_size=300) | json_values,
        "use_aoai": st.booleans() | json_values,
        "model_name": st.sampled_from(["gpt-4o", "gpt-4o-mini", "o1", ""]) | st.text(max_size=120) | json_values,
        "task_id": st.text(max_size=80) | json_values,
    },
)
raw_bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | task_bodies.map(lambda v: json.dumps(v).encode())
)


def new_service(root: Path) -> tuple[TaskService, InMemoryOrchestrations, TaskStore]:
    config = Settings(
        OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(root / "tasks.db"),
        ALLOWED_MODELS="gpt-4o,gpt-4o-mini", MAX_PROMPT_CHARS=200,
    )
    durable = InMemoryOrchestrations()
    store = TaskStore.from_settings(config)
    return TaskService(config, durable, store), durable, store


def answers(response: Any) -> None:
    assert 200 <= response.status_code < 500, response
    json.dumps(response.body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bodies)
def test_any_create_body_gets_an_answer_and_rejections_leave_nothing(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, durable, store = new_service(Path(root))
        response = asyncio.run(service.create(raw, owner=None))
        answers(response)
        if response.status_code == 202:
            assert list(durable.started) == [response.body["task_id"]]
            assert row_count(store) == 1
        else:
            assert response.status_code in (413, 422)
            assert response.body["detail"]
            assert durable.started == {} and row_count(store) == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_id=st.text(max_size=100), owner=st.none() | st.text(max_size=20))
def test_any_task_id_gets_an_answer(task_id: str, owner: str | None) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, _, store = new_service(Path(root))
        for read in (service.status, service.result):
            response = asyncio.run(read(task_id, owner))
            answers(response)
            assert response.status_code in (404, 422)
        assert row_count(store) == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bodies)
def test_any_queue_message_is_started_or_refused_cleanly(raw: bytes) -> None:
    from magentic_tasks.service import InvalidRequest

    with tempfile.TemporaryDirectory() as root:
        service, durable, store = new_service(Path(root))
        try:
            task_id = asyncio.run(service.submit_queued(raw))
        except InvalidRequest as invalid:
            assert invalid.detail and durable.started == {} and row_count(store) == 0
        else:
            assert task_id is not None and list(durable.started) == [task_id]
