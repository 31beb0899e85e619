"""Following and cancelling a task through the real worker: `GET /tasks/{id}/messages` with query
parameters as the host sends them, `POST /tasks/{id}/cancel`, and the run activity noticing the cancel
through its durable-client binding (`CANCEL_POLL_SECONDS` reaches the worker process as an app setting)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import StartApp, as_json
from tests.support.model_server import Faults, Script
from tests.worker.conftest import worker_of


@pytest.mark.worker_app(MAX_TURNS=200, CANCEL_POLL_SECONDS=0.2)
async def test_a_task_followed_and_cancelled_through_the_worker_ends_cancelled(start_worker_app: StartApp) -> None:
    app = await start_worker_app(Script(rounds_before_satisfied=10_000), Faults(latency=0.1))
    task_id = await app.create_task()
    route = {"task_id": task_id}

    page = await app.host.call_http("get_task_messages", route_params=route, params={"after": "0", "wait": "20"})
    assert page.status_code == 200, page.get_body()
    first = as_json(page)
    assert first["messages"][0]["source"] == "user" and first["attempt"] == 1 and not first["finished"]
    bad = await app.host.call_http("get_task_messages", route_params=route, params={"limit": "0"})
    assert bad.status_code == 422 and as_json(bad)["detail"][0]["loc"] == ["query", "limit"]

    cancelled_at = time.monotonic()
    cancelled = await app.host.call_http("cancel_task", route_params=route)
    again = await app.host.call_http("cancel_task", route_params=route)
    assert (cancelled.status_code, as_json(cancelled)["status"]) == (202, "cancelled")
    assert (again.status_code, as_json(again)["status"]) == (200, "cancelled")
    await app.host.wait_idle(timeout=30)

    late = [r for r in app.server.requests if r.received_at > cancelled_at + 0.2 + 1.0]
    assert late == []  # the activity in the worker saw the cancel and stopped the team
    rest: list[dict[str, object]] = []
    after, finished = first["next_after"], False
    while not finished:
        body = as_json(await app.host.call_http("get_task_messages", route_params=route,
                                                params={"after": str(after), "wait": "5"}))
        rest += body["messages"]
        after, finished = body["next_after"], body["finished"]
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled" and first["messages"] + rest == result["result"]["messages"]
    (row,) = app.db_rows("tasks")
    assert row["status"] == "cancelled"
    # A cancel is no error: not even autogen's report of the cancelled agent call (log_levels filters it).
    assert [log.message for log in worker_of(app).errors_logged()] == []
