"""Plan review through the registered functions: `"review": "plan"`, `awaiting_input` with the plan
in `GET /tasks/{id}`, and `POST /tasks/{id}/input` approving, revising or rejecting it; the review
timer; a cancel while the task waits. Real runs against the scripted model, real SQLite."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from magentic_tasks.settings import get_settings
from tests.e2e.conftest import RUN_ACTIVITY, Harness, StartApp, as_json
from tests.support.model_server import Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

SCRIPT = Script(rounds_before_satisfied=2)
REVISED = "- Coder: multiply 6 by 7, then check it by adding 6 seven times.\n- Report the result."


async def create_reviewed(app: Harness) -> str:
    body = {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o", "review": "plan"}
    response = await app.post_task(body)
    assert response.status_code == 202, response.get_body()
    return str(as_json(response)["task_id"])


async def status_when(app: Harness, task_id: str, wanted: set[str], timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = as_json(await app.get_status(task_id))
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)


async def submit(app: Harness, task_id: str, body: Any) -> func.HttpResponse:
    return await app.host.call_http("submit_task_input", route_params={"task_id": task_id}, body=body)


async def awaiting(app: Harness) -> str:
    before = app.server.calls_by_kind
    task_id = await create_reviewed(app)
    waiting = await status_when(app, task_id, {"awaiting_input"})
    assert waiting["plan"] == SCRIPT.plan
    # Nothing runs while the task waits: its one activity has returned; the orchestrator has a timer.
    await app.host.wait_until(lambda: all(c.status != "running" for c in app.host.calls_of(RUN_ACTIVITY, task_id)),
                              10.0, "the run activity to return")
    assert app.server.calls_by_kind - before == {"facts": 1, "plan": 1}
    (run,) = app.host.calls_of(RUN_ACTIVITY, task_id)
    assert run.status == "completed" and run.result["status"] == "paused"
    assert [row["status"] for row in app.db_rows("tasks") if row["task_id"] == task_id] == ["awaiting_input"]
    return task_id


async def test_an_approved_plan_runs_exactly_as_an_unreviewed_task(start_app: StartApp) -> None:
    plain = await start_app(SCRIPT)
    unreviewed = await plain.run_to_end(await plain.create_task())
    plain_log = [(r.kind, r.body) for r in plain.server.requests]

    app = await start_app(SCRIPT)
    task_id = await awaiting(app)
    response = await submit(app, task_id, {"action": "approve"})
    assert response.status_code == 202
    assert as_json(response) == {"task_id": task_id, "status": "awaiting_input",
                                 "detail": "Plan approved; the run goes on"}
    result = await app.run_to_end(task_id)

    assert result["status"] == "completed"
    assert [(r.kind, r.body) for r in app.server.requests] == plain_log  # facts and plan were not asked again
    assert result["result"]["messages"] == unreviewed["result"]["messages"]
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
    assert (await status_when(app, task_id, {"completed"})).get("plan") is None
    app.assert_stores_agree(task_id, result)


async def test_a_revised_plan_is_the_one_the_team_follows(start_app: StartApp) -> None:
    app = await start_app(SCRIPT)
    task_id = await awaiting(app)

    response = await submit(app, task_id, {"action": "revise", "plan": REVISED})
    result = await app.run_to_end(task_id)

    assert response.status_code == 202 and result["status"] == "completed"
    assert app.server.calls_by_kind["plan"] == 1  # not re-planned: the reviewer's plan stands
    ledger = result["result"]["messages"][1]  # the task ledger the orchestrator hands the team
    assert REVISED in ledger["content"] and SCRIPT.plan not in ledger["content"]
    first_ledger = next(r for r in app.server.requests if r.kind == "ledger")
    assert any(REVISED in str(m.get("content")) for m in first_ledger.body["messages"])
    app.assert_stores_agree(task_id, result)


async def test_a_rejected_plan_ends_the_task_cancelled_without_another_model_call(start_app: StartApp) -> None:
    app = await start_app(SCRIPT)
    task_id = await awaiting(app)

    response = await submit(app, task_id, {"action": "reject"})
    await status_when(app, task_id, {"cancelled"})
    await app.host.wait_idle()  # the timer was cancelled: the orchestration has completed

    assert response.status_code == 202 and as_json(response)["detail"] == "Plan rejected; the task ends cancelled"
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled" and result["error"] == f"plan rejected through POST /tasks/{task_id}/input"
    assert result["result"]["task_result"]["stop_reason"] == "plan rejected"
    assert app.server.calls_by_kind == {"facts": 1, "plan": 1}
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
    assert app.db_rows("checkpoints") == []
    app.assert_stores_agree(task_id, result)


async def test_an_unanswered_review_expires_and_a_cancel_while_waiting_ends_the_task(start_app: StartApp) -> None:
    app = await start_app(SCRIPT, REVIEW_TIMEOUT_SECONDS=100)  # 1 s: the fake host's timers run 100x fast
    expired = await awaiting(app)
    await status_when(app, expired, {"cancelled"})
    await app.host.wait_idle()
    result = as_json(await app.get_result(expired))
    assert result["status"] == "cancelled" and "REVIEW_TIMEOUT_SECONDS" in result["error"]

    app = await start_app(SCRIPT)
    waiting = await awaiting(app)
    cancelled = await app.host.call_http("cancel_task", route_params={"task_id": waiting})
    assert cancelled.status_code == 202
    assert (await status_when(app, waiting, {"cancelled"}))["status"] == "cancelled"
    late = await submit(app, waiting, {"action": "approve"})
    assert late.status_code == 409 and "cancelled" in as_json(late)["detail"]


async def test_input_is_refused_unless_the_task_awaits_it_and_is_well_formed(start_app: StartApp) -> None:
    app = await start_app(SCRIPT)
    unreviewed = await app.create_task()
    await app.run_to_end(unreviewed)
    assert (await submit(app, unreviewed, {"action": "approve"})).status_code == 409
    assert (await submit(app, "no-such-task", {"action": "approve"})).status_code == 404

    task_id = await awaiting(app)
    for bad in ({"action": "revise"}, {"action": "approve", "plan": "x"}, {"action": "maybe"}, {}, [1],
                {"action": "revise", "plan": ""}):
        response = await submit(app, task_id, bad)
        assert response.status_code == 422, (bad, response.get_body())
    assert (await status_when(app, task_id, {"awaiting_input"}))["status"] == "awaiting_input"


async def test_the_time_a_plan_waits_for_review_is_not_the_runs(start_app: StartApp) -> None:
    app = await start_app(SCRIPT, TASK_TIMEOUT_SECONDS=1.5)
    task_id = await awaiting(app)
    await asyncio.sleep(2.0)  # longer than the whole run may take

    assert (await submit(app, task_id, {"action": "approve"})).status_code == 202
    await status_when(app, task_id, {"completed", "failed"})
    await app.host.wait_idle()

    result = as_json(await app.get_result(task_id))
    assert result["status"] == "completed", result["error"]


@pytest.mark.parametrize("executor", ["none", "local"])
async def test_a_terminal_added_while_the_plan_waits_joins_no_resumed_run(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    app = await start_app(SCRIPT, CODE_EXECUTOR="none")
    task_id = await awaiting(app)
    monkeypatch.setenv("CODE_EXECUTOR", executor)  # the next slice reads the settings afresh
    get_settings.cache_clear()

    assert (await submit(app, task_id, {"action": "approve"})).status_code == 202
    result = await app.run_to_end(task_id)

    # Resumed with the team the plan was made with: facts and plan are not paid for twice.
    assert result["status"] == "completed", result["error"]
    assert app.server.calls_by_kind["facts"] == app.server.calls_by_kind["plan"] == 1
    assert result["result"]["attempts"] == 1


async def test_a_terminal_removed_while_the_plan_waits_starts_the_run_over_with_a_logged_reason(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = await start_app(SCRIPT, CODE_EXECUTOR="local")
    task_id = await awaiting(app)
    monkeypatch.setenv("CODE_EXECUTOR", "none")  # code execution turned off: the plan's terminal is gone
    get_settings.cache_clear()

    with caplog.at_level(logging.WARNING):
        assert (await submit(app, task_id, {"action": "approve"})).status_code == 202
        await app.host.wait_until(lambda: len([c for c in app.host.calls_of(RUN_ACTIVITY, task_id)
                                               if c.status == "completed"]) == 2, 20.0, "the second slice")
    again = await status_when(app, task_id, {"awaiting_input", "failed", "completed"})

    # A new attempt with the team there is now, whose new plan waits for its own review.
    assert again["status"] == "awaiting_input", again
    plans = [str(r.body["messages"]) for r in app.server.requests if r.kind == "plan"]
    assert len(plans) == 2 and "ComputerTerminal" in plans[0] and "ComputerTerminal" not in plans[1]
    assert any("ComputerTerminal" in r.getMessage() and "starts over" in r.getMessage() for r in caplog.records)
    assert (await submit(app, task_id, {"action": "approve"})).status_code == 202
    result = await app.run_to_end(task_id)
    assert result["status"] == "completed", result["error"]
    assert result["result"]["attempts"] == 2
    assert app.server.calls_by_kind["plan"] == 2
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total  # both attempts'
    app.assert_stores_agree(task_id, result)


async def test_a_task_cancelled_while_its_plan_waits_can_be_deleted_at_once(start_app: StartApp) -> None:
    app = await start_app(SCRIPT)
    task_id = await awaiting(app)  # its attempt paused for review: no activity runs

    cancelled = await app.host.call_http("cancel_task", route_params={"task_id": task_id})
    page = await app.host.call_http("get_task_messages", route_params={"task_id": task_id}, params={"after": "0"})
    deleted = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))

    assert cancelled.status_code == 202
    assert page.status_code == 200 and as_json(page)["finished"] is True  # nothing streams any more
    assert deleted.status_code == 204, deleted.get_body()
    assert app.db_rows("tasks") == [] and app.db_rows("attempts") == []


async def test_of_two_inputs_at_once_one_is_taken_and_the_task_does_what_it_said(start_app: StartApp) -> None:
    app = await start_app(SCRIPT)
    task_id = await awaiting(app)

    answers = await asyncio.gather(submit(app, task_id, {"action": "reject"}),
                                   submit(app, task_id, {"action": "approve"}))
    final = await status_when(app, task_id, {"completed", "cancelled", "failed"})
    await app.host.wait_idle()

    assert sorted(a.status_code for a in answers) == [202, 409]
    (won,) = [a for a in answers if a.status_code == 202]
    (lost,) = [a for a in answers if a.status_code == 409]
    rejected = as_json(won)["detail"].startswith("Plan rejected")
    assert final["status"] == ("cancelled" if rejected else "completed")
    assert as_json(lost)["detail"] == (
        f"The plan was already {'rejected' if rejected else 'approved'}; this input was not applied")


async def test_an_input_accepted_just_before_the_review_expired_is_the_one_applied(start_app: StartApp) -> None:
    from magentic_tasks.schemas import ReviewDecision
    from magentic_tasks.store import TaskStore

    app = await start_app(SCRIPT, REVIEW_TIMEOUT_SECONDS=100)  # 1 s: the fake host's timers run 100x fast
    task_id = await awaiting(app)
    # A reviewer's approval was recorded, and its event lost the race against the review timer.
    TaskStore.from_settings(get_settings()).decide_review(task_id, ReviewDecision(action="approve"),
                                                          datetime.now(UTC), None)

    final = await status_when(app, task_id, {"completed", "cancelled", "failed"})
    await app.host.wait_idle()

    assert final["status"] == "completed"  # not `cancelled` by the expiry: the approval came first
    late = await submit(app, task_id, {"action": "reject"})
    assert late.status_code == 409 and as_json(late)["detail"] == (
        "The plan was already approved; this input was not applied")
