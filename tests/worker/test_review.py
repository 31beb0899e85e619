"""Plan review through the real worker: `"review": "plan"` pauses the task in `awaiting_input`,
`POST /tasks/{id}/input` (a body as the host sends it) raises the event through the durable-client
binding, the orchestrator's `wait_for_external_event` and timer replay in the worker, and the task
completes with the revised plan."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import StartApp, as_json
from tests.support.model_server import Script
from tests.worker.conftest import worker_of

REVISED = "- Coder: multiply 6 by 7.\n- Report it."


async def test_a_plan_revised_through_the_worker_is_the_one_the_task_follows(start_worker_app: StartApp) -> None:
    app = await start_worker_app(Script(rounds_before_satisfied=1))
    created = await app.post_task({"prompt": "What is 6 * 7?", "use_aoai": False, "review": "plan"})
    assert created.status_code == 202, created.get_body()
    route = {"task_id": as_json(created)["task_id"]}

    for _ in range(600):
        status = as_json(await app.host.call_http("get_task_status", route_params=route))
        if status["status"] == "awaiting_input":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "awaiting_input" and status["plan"] == app.server.script.plan
    bad = await app.host.call_http("submit_task_input", route_params=route, body={"action": "revise"})
    assert bad.status_code == 422
    given = await app.host.call_http("submit_task_input", route_params=route,
                                     body={"action": "revise", "plan": REVISED})
    assert given.status_code == 202, given.get_body()
    for _ in range(600):
        if as_json(await app.host.call_http("get_task_status", route_params=route))["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    await app.host.wait_idle(timeout=30)
    result = as_json(await app.get_result(route["task_id"]))

    assert result["status"] == "completed"
    assert REVISED in result["result"]["messages"][1]["content"]
    assert app.server.calls_by_kind["plan"] == 1
    assert worker_of(app).errors_logged() == []
