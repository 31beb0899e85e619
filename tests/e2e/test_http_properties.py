"""Property-based, through the registered HTTP functions: whatever body or task id a client sends,
the answer is JSON with a 2xx/4xx status, never a 5xx or an unhandled exception, and a rejected
request starts no orchestration and writes no row.

One app (fake host, scripted model, SQLite) serves every example; hypothesis drives it from a
synchronous test on the app's own event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from magentic_tasks.settings import get_settings
from tests.e2e.conftest import HOST_JSON, db_rows
from tests.service.test_task_service_properties import (
    LIMIT,
    encodings,
    hostile_bodies,
    json_values,
    prompts,
    raw_bodies,
)
from tests.support.durable_host import FakeDurableHost
from tests.support.model_server import Script, ScriptedModelServer

OPENAI_KEY = "sk-property-openai-0123456789"

# Bodies that are mostly acceptable, so accepted requests are exercised as often as rejected ones.
plausible_bodies = st.fixed_dictionaries(
    {"prompt": st.text(min_size=1, max_size=250), "use_aoai": st.just(False)},
    optional={"model_name": st.sampled_from(["gpt-4o", "gpt-4o-mini", "o1"]), "extra": json_values},
).map(lambda body: json.dumps(body).encode())


@dataclass
class RunningApp:
    loop: asyncio.AbstractEventLoop
    host: FakeDurableHost
    db_path: Path

    def strays(self) -> set[str]:
        """Rows of tasks no accepted request created (accepted tasks write theirs as they run)."""
        return {str(row["task_id"]) for row in db_rows(self.db_path, "tasks")} - set(self.host.instances)


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    import function_app

    root = tmp_path_factory.mktemp("http-properties")
    env = pytest.MonkeyPatch()
    loop = asyncio.new_event_loop()
    with ScriptedModelServer(Script(rounds_before_satisfied=0)) as model:
        for name, value in {
            "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": OPENAI_KEY, "NO_PROXY": "127.0.0.1",
            "TASKS_DB_PATH": str(root / "tasks.db"), "TASK_WORKSPACE_ROOT": str(root / "workspaces"),
            "ALLOWED_MODELS": "gpt-4o,gpt-4o-mini", "MAX_PROMPT_CHARS": str(LIMIT),
        }.items():
            env.setenv(name, value)
        env.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
        get_settings.cache_clear()
        host = FakeDurableHost(function_app.app, host_json=HOST_JSON, timer_scale=0)
        loop.run_until_complete(host.start())
        try:
            yield RunningApp(loop=loop, host=host, db_path=root / "tasks.db")
            loop.run_until_complete(host.wait_idle(timeout=120))
            assert not host.function_errors
        finally:
            loop.run_until_complete(host.stop())
            loop.close()
            env.undo()
            get_settings.cache_clear()


def answered(status: int, body: bytes) -> object:
    assert 200 <= status < 500, (status, body[:200])
    return json.loads(body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bodies | plausible_bodies | hostile_bodies)
def test_any_posted_body_is_answered_and_a_rejection_leaves_nothing(running_app: RunningApp, raw: bytes) -> None:
    instances = len(running_app.host.instances)
    response = running_app.loop.run_until_complete(running_app.host.call_http(("POST", "/tasks"), body=raw))
    payload = answered(response.status_code, response.get_body())
    event(f"POST answered {response.status_code}")
    assert isinstance(payload, dict)
    if response.status_code == 202:
        assert payload["task_id"] in running_app.host.instances
        assert len(running_app.host.instances) == instances + 1
    else:
        assert response.status_code in (413, 422) and payload["detail"]
        assert len(running_app.host.instances) == instances
    assert running_app.strays() == set()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=prompts, encoding=encodings)
@example(prompt="\U0001f600" * LIMIT, encoding={"ensure_ascii": True, "indent": 2, "separators": None})
def test_any_prompt_within_the_character_limit_is_accepted_through_http(
    running_app: RunningApp, prompt: str, encoding: dict[str, Any]
) -> None:
    raw = json.dumps({"prompt": prompt, "use_aoai": False}, **encoding).encode()
    response = running_app.loop.run_until_complete(running_app.host.call_http(("POST", "/tasks"), body=raw))
    assert response.status_code == 202, (response.get_body()[:300], len(raw))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_id=st.text(max_size=100), principal=st.none() | st.text(alphabet=st.characters(codec="ascii",
       exclude_categories=["Cc"]), max_size=20))
def test_any_task_id_is_answered_without_writing(running_app: RunningApp, task_id: str, principal: str | None) -> None:
    headers = {"X-MS-CLIENT-PRINCIPAL-ID": principal} if principal else None
    for function in ("get_task_status", "get_task_result"):
        response = running_app.loop.run_until_complete(
            running_app.host.call_http(function, route_params={"task_id": task_id}, headers=headers)
        )
        payload = answered(response.status_code, response.get_body())
        assert response.status_code in (404, 422), payload
    assert running_app.strays() == set()
