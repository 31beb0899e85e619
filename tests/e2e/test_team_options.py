"""Per-task team options through the registered functions: the agents, turns and deadline a task
asks for are the ones its run has, and its status says so."""

from __future__ import annotations

from typing import Any

from magentic_tasks.run import ORCHESTRATOR_NAME
from tests.e2e.conftest import StartApp, as_json
from tests.support.model_server import Faults, Script

UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)  # the request is never satisfied


def task_body(**options: Any) -> dict[str, Any]:
    return {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o", **options}


async def test_a_task_runs_with_the_agents_and_turns_it_asked_for(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, MAX_TURNS=20)
    created = await app.post_task(task_body(agents=["code"], max_turns=2))
    assert created.status_code == 202, created.get_body()
    task_id = str(as_json(created)["task_id"])

    result = await app.run_to_end(task_id)

    # Past its own turn limit Magentic-One asks for its final answer: the task completes with it.
    assert result["status"] == "completed"
    assert result["result"]["task_result"]["stop_reason"] == "Max rounds reached."
    assert result["result"]["task_result"]["final_answer"] == UNTIL_STOPPED.final_answer
    assert {m["source"] for m in result["result"]["messages"]} <= {"user", ORCHESTRATOR_NAME, "Coder"}
    # The same turns as a server whose MAX_TURNS is 2 gives every task.
    server_wide = await start_app(UNTIL_STOPPED, MAX_TURNS=2)
    await server_wide.run_to_end(await server_wide.create_task())
    assert app.server.calls_by_kind["coder"] == server_wide.server.calls_by_kind["coder"] > 0
    status = as_json(await app.get_status(task_id))
    assert status["team"] == {"agents": ["code"], "max_turns": 2, "max_tokens": None,
                              "deadline_seconds": 540.0}
    app.assert_stores_agree(task_id, result)


async def test_a_tasks_own_deadline_stops_its_run(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.1, notice_hangups=True), MAX_TURNS=100,
                          TASK_TIMEOUT_SECONDS=60)
    created = await app.post_task(task_body(deadline_seconds=1))
    task_id = str(as_json(created)["task_id"])

    result = await app.run_to_end(task_id)

    assert result["result"]["task_result"]["stop_reason"] == "timeout"
    assert 1 <= result["result"]["execution_time"] < 3  # its own second, not the server's minute
    app.assert_stores_agree(task_id, result)


async def test_an_option_past_the_servers_cap_is_refused_with_the_cap_named(start_app: StartApp) -> None:
    app = await start_app(MAX_TURNS=10)
    response = await app.post_task(task_body(max_turns=11))

    assert response.status_code == 422
    assert "at most 10 on this server (MAX_TURNS)" in as_json(response)["detail"][0]["msg"]
    assert app.host.instances == {}
