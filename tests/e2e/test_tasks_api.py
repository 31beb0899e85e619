"""The HTTP API end to end: POST /tasks → GET /tasks/{id} → GET /tasks/{id}/result, through the
registered functions, the real Durable client over HTTP to the fake host, and the real
Magentic-One team over HTTP to the scripted model."""

from __future__ import annotations

import time
from typing import Any

import pytest

from magentic_tasks.run import ORCHESTRATOR_NAME
from tests.e2e.conftest import (
    FAILURE_ACTIVITY,
    PROMPT,
    RUN_ACTIVITY,
    Harness,
    Provider,
    StartApp,
    as_json,
)
from tests.support.model_server import Faults, ScriptedModelServer

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


def assert_tokens_are_the_servers(result: dict[str, Any], server: ScriptedModelServer) -> None:
    """Reported tokens equal what the model served, and the per-agent breakdown sums to them."""
    assert result["prompt_tokens"] == server.served_prompt_tokens > 0
    assert result["completion_tokens"] == server.served_completion_tokens > 0
    by_agent = result["result"]["usage_by_agent"]
    assert sum(u["prompt_tokens"] for u in by_agent.values()) == result["prompt_tokens"]
    assert sum(u["completion_tokens"] for u in by_agent.values()) == result["completion_tokens"]


# ---- a task from start to finish --------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_a_task_runs_to_completion_and_its_result_has_the_originals_shape(
    provider: Provider, start_app: StartApp
) -> None:
    app = await start_app(provider=provider)
    started = time.monotonic()

    created = await app.post_task()

    assert created.status_code == 202
    body = as_json(created)
    assert set(body) == {"task_id", "status", "created_at"}
    assert body["status"] == "pending"
    task_id = body["task_id"]
    assert created.headers["Location"] == f"/tasks/{task_id}"
    assert int(created.headers["Retry-After"]) > 0

    status = await app.poll_until_finished(task_id)
    elapsed = time.monotonic() - started
    assert status == {
        "task_id": task_id,
        "status": "completed",
        "prompt": PROMPT,
        "created_at": body["created_at"],
        "updated_at": status["updated_at"],
        "progress": None,  # additions (issue 8): set only while the task runs
        "callback": None,  # (issue 10): set only for a final task created with a callback_url
        # (issue 17): the team it ran with, the server's defaults here
        "team": {"agents": ["files", "code"], "max_turns": 20, "max_tokens": None, "deadline_seconds": 540.0},
    }
    assert app.statuses_seen[task_id][-1] == "completed"
    assert elapsed < 8

    result = await app.run_to_end(task_id)
    assert set(result) == {
        "task_id", "status", "result", "prompt_tokens", "completion_tokens", "created_at", "updated_at", "error",
    }  # fmt: skip
    assert (result["task_id"], result["status"], result["error"]) == (task_id, "completed", None)
    assert result["created_at"] == body["created_at"]
    run = result["result"]
    assert set(run) == {"messages", "task_result", "execution_time", "usage_by_agent", "attempts",
                        "files", "files_skipped"}  # (issue 20): the outputs kept, and those that were not
    assert all(set(m) == {"source", "content", "type"} for m in run["messages"])
    assert [m["source"] for m in run["messages"]] == [
        "user",
        ORCHESTRATOR_NAME,
        ORCHESTRATOR_NAME,
        "Coder",
        ORCHESTRATOR_NAME,
    ]
    assert run["messages"][0] == {"source": "user", "content": PROMPT, "type": "TextMessage"}
    assert run["task_result"]["status"] == "completed"
    assert run["task_result"]["stop_reason"]
    assert run["task_result"]["final_answer"] == app.server.script.final_answer == run["messages"][-1]["content"]
    assert run["task_result"]["error"] is None
    assert isinstance(run["execution_time"], float) and run["execution_time"] > 0
    assert run["attempts"] == 1
    assert set(run["usage_by_agent"]) == {ORCHESTRATOR_NAME, "Coder"}
    assert_tokens_are_the_servers(result, app.server)

    # Durable state and the SQLite mirror tell the same story.
    app.assert_stores_agree(task_id, result)
    (row,) = app.db_rows("tasks")
    assert (row["task_id"], row["status"], row["prompt"], row["error"]) == (task_id, "completed", PROMPT, None)
    assert row["use_aoai"] == (provider == "azure")
    assert len(app.db_rows("attempts")) == 1
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]

    # The model was reached through the provider the task asked for.
    paths = {r.path for r in app.server.requests}
    if provider == "azure":
        assert paths == {"/openai/deployments/gpt-4o/chat/completions"}
    else:
        assert paths == {"/v1/chat/completions"}


async def test_the_result_is_202_while_the_task_runs(start_app: StartApp) -> None:
    app = await start_app(faults=Faults(latency=0.15))
    task_id = await app.create_task()

    await app.host.wait_until(lambda: app.server.calls > 0, description="the first model call")
    status = as_json(await app.get_status(task_id))
    response = await app.get_result(task_id)

    assert status["status"] == "running"
    assert response.status_code == 202
    assert as_json(response) == {"task_id": task_id, "status": "running", "detail": "Task is not finished yet"}
    assert int(response.headers["Retry-After"]) > 0
    assert (await app.run_to_end(task_id))["status"] == "completed"


async def test_a_task_whose_every_model_call_fails_ends_failed_not_crashed(start_app: StartApp) -> None:
    app = await start_app(faults=Faults(fail_all=True, status=500), ACTIVITY_MAX_ATTEMPTS=3)
    task_id = await app.create_task()

    status = await app.poll_until_finished(task_id)
    result = await app.run_to_end(task_id)

    assert status["status"] == "failed"
    assert result["status"] == "failed"
    assert result["result"]["attempts"] == 3
    assert result["result"]["task_result"]["status"] == "failed"
    assert result["result"]["task_result"]["stop_reason"] == "error"
    error = result["error"]
    assert error == result["result"]["task_result"]["error"]
    assert error.startswith("InternalServerError:") and "500" in error
    assert "Traceback" not in error and "\n" not in error and "TaskRunError" not in error
    assert result["result"]["messages"] == [{"source": "user", "content": PROMPT, "type": "TextMessage"}]
    assert (result["prompt_tokens"], result["completion_tokens"]) == (0, 0)
    # Three attempts of two requests each (MODEL_MAX_RETRIES=1), then the failure was recorded.
    assert app.server.calls == 6
    calls = app.host.calls_of(instance_id=task_id)
    assert [(c.name, c.status) for c in calls] == [(RUN_ACTIVITY, "failed")] * 3 + [(FAILURE_ACTIVITY, "completed")]

    app.assert_stores_agree(task_id, result)  # the instance itself Completed, with a failed result
    assert len(app.db_rows("attempts")) == 3


# ---- what is refused ------------------------------------------------------------------------


BAD_BODIES: list[tuple[str, bytes | dict[str, Any] | list[Any], int, list[tuple[str, ...]], str]] = [
    ("not json", b"{prompt: hello", 422, [("body",)], "json_invalid"),
    ("empty body", b"", 422, [("body",)], "missing"),
    ("array", [{"prompt": "hi"}], 422, [("body",)], "model_type"),
    ("string", b'"just a prompt"', 422, [("body",)], "model_type"),
    ("missing prompt", {"use_aoai": False}, 422, [("body", "prompt")], "missing"),
    ("empty prompt", {"prompt": "", "use_aoai": False}, 422, [("body", "prompt")], "string_too_short"),
    ("blank prompt", {"prompt": " \n\t ", "use_aoai": False}, 422, [("body", "prompt")], "value_error"),
    ("NUL in prompt", {"prompt": "a\x00b", "use_aoai": False}, 422, [("body", "prompt")], "value_error"),
    ("prompt not a string", {"prompt": 42, "use_aoai": False}, 422, [("body", "prompt")], "string_type"),
    ("use_aoai not a bool", {"prompt": "hi", "use_aoai": "maybe"}, 422, [("body", "use_aoai")], "bool_parsing"),
    (
        "model_name not a string",
        {"prompt": "hi", "use_aoai": False, "model_name": 4},
        422,
        [("body", "model_name")],
        "string_type",
    ),
    (
        "malformed model_name",
        {"prompt": "hi", "use_aoai": False, "model_name": "../etc"},
        422,
        [("body", "model_name")],
        "string_pattern_mismatch",
    ),
    ("prompt too long", {"prompt": "x" * 101, "use_aoai": False}, 422, [("body", "prompt")], "string_too_long"),
    (
        "provider not configured",
        {"prompt": "hi", "use_aoai": True},
        422,
        [("body", "use_aoai")],
        "provider_not_configured",
    ),
    (
        "model not allowed",
        {"prompt": "hi", "use_aoai": False, "model_name": "gpt-4"},
        422,
        [("body", "model_name")],
        "model_not_allowed",
    ),
    ("invalid UTF-8", b'{"prompt": "caf\xe9"}', 422, [("body",)], "json_invalid"),
    ("huge body", b'{"prompt": "' + b"x" * 12_500_000 + b'"}', 413, [("body",)], "too_large"),
]


@pytest.mark.parametrize(
    ("body", "status", "locs", "kind"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
async def test_a_bad_request_is_refused_with_fastapis_detail_and_leaves_nothing(
    body: bytes | dict[str, Any] | list[Any],
    status: int,
    locs: list[tuple[str, ...]],
    kind: str,
    start_app: StartApp,
) -> None:
    app = await start_app(MAX_PROMPT_CHARS=100, ALLOWED_MODELS="gpt-4o,gpt-4o-mini")

    response = await app.post_task(body)

    assert response.status_code == status, response.get_body()
    detail = as_json(response)["detail"]
    assert isinstance(detail, list) and detail
    for item in detail:
        # FastAPI's keys, without pydantic's "input": the offending value is not echoed back.
        assert set(item) == {"type", "loc", "msg"} and isinstance(item["msg"], str) and item["msg"]
    assert [tuple(item["loc"])[: len(locs[0])] for item in detail] == locs
    assert detail[0]["type"] == kind
    app.assert_nothing_created()
    assert app.server.calls == 0


@pytest.mark.parametrize("task_id", ["-starts-with-dash", "has space", "dot.ted", "x" * 65, "semi;colon"])
@pytest.mark.parametrize("endpoint", ["status", "result"])
async def test_a_malformed_task_id_is_422_on_both_gets(task_id: str, endpoint: str, app: Harness) -> None:
    response = await (app.get_status(task_id) if endpoint == "status" else app.get_result(task_id))

    assert response.status_code == 422
    (item,) = as_json(response)["detail"]
    assert (item["loc"], item["type"]) == (["path", "task_id"], "string_pattern_mismatch")
    app.assert_nothing_created()


@pytest.mark.parametrize("endpoint", ["status", "result"])
async def test_an_unknown_task_is_404_on_both_gets(endpoint: str, app: Harness) -> None:
    response = await (app.get_status("no-such-task") if endpoint == "status" else app.get_result("no-such-task"))

    assert response.status_code == 404
    assert as_json(response) == {"detail": "Task not found"}
    app.assert_nothing_created()


# ---- what is never shown ----------------------------------------------------------------------


async def test_no_response_reveals_the_hosts_system_key_or_webhook_urls(app: Harness) -> None:
    task_id = await app.create_task()
    assert (await app.get_result(task_id)).status_code == 202
    await app.run_to_end(task_id)
    await app.get_result("no-such-task")
    await app.get_status("bad id")
    await app.post_task({"prompt": ""})

    forbidden = [
        app.host.system_key,
        app.host.webhook_base_url,
        app.host.rpc_base_url,
        "/runtime/webhooks",
        "durabletask",
        "statusQueryGetUri",
    ]
    assert len(app.responses) >= 6
    for response in app.responses:
        texts = [response.get_body().decode(), *(f"{k}: {v}" for k, v in response.headers.items())]
        for text in texts:
            assert not any(secret in text for secret in forbidden), text


# ---- after Durable forgets --------------------------------------------------------------------


async def test_a_purged_task_is_served_from_sqlite_unchanged(app: Harness) -> None:
    task_id = await app.create_task()
    await app.poll_until_finished(task_id)
    await app.host.wait_idle()
    status_before = as_json(await app.get_status(task_id))
    result_before = as_json(await app.get_result(task_id))

    assert app.host.purge(task_id) == 1
    assert app.host.get_instance(task_id) is None
    status_after = await app.get_status(task_id)
    result_after = await app.get_result(task_id)

    assert status_after.status_code == result_after.status_code == 200
    assert as_json(status_after) == status_before
    assert as_json(result_after) == result_before
