"""Durable rounds through the registered functions: a run in several slices (each its own activity,
the orchestrator continuing as new between them), the whole-run deadline across slices, and a
cancel between rounds; real runs against the scripted model, real SQLite."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import RUN_ACTIVITY, StartApp, as_json
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

THREE_ROUNDS = Script(rounds_before_satisfied=3)
UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)
ORCHESTRATOR = "MagenticOneOrchestrator"


async def test_a_run_in_slices_equals_one_uninterrupted_run(start_app: StartApp) -> None:
    whole = await start_app(THREE_ROUNDS)
    whole_id = await whole.create_task()
    uninterrupted = await whole.run_to_end(whole_id)
    whole_log = [(r.kind, r.body) for r in whole.server.requests]

    app = await start_app(THREE_ROUNDS, SLICE_SECONDS=0.001)  # every round ends its slice
    task_id = await app.create_task()
    result = await app.run_to_end(task_id)

    assert result["status"] == "completed" and result["result"]["attempts"] == 1  # one attempt, four slices
    runs = app.host.calls_of(RUN_ACTIVITY, task_id)
    assert len(runs) == 4 and all(run.status == "completed" for run in runs)
    assert [run.result["status"] for run in runs] == ["paused", "paused", "paused", "completed"]
    assert [(run.input.get("resume") or {}).get("round") for run in runs] == [None, 1, 2, 3]
    assert [(r.kind, r.body) for r in app.server.requests] == whole_log  # no model call made twice
    assert result["result"]["messages"] == uninterrupted["result"]["messages"]
    assert [m["source"] for m in result["result"]["messages"]].count(ORCHESTRATOR) == 5
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
    # Continued as new: the instance's history is the last slice's only.
    scheduled = [e for e in app.host.history(task_id) if e["EventType"] == 4]  # TaskScheduled
    assert len(scheduled) == 1
    rows = [r for r in app.db_rows("messages") if r["task_id"] == task_id]
    assert sorted(r["position"] for r in rows) == list(range(len(rows))) and {r["attempt"] for r in rows} == {1}
    assert [r for r in app.db_rows("checkpoints") if r["task_id"] == task_id] == []  # a finished run keeps none
    app.assert_stores_agree(task_id, result)


async def test_the_deadline_is_the_whole_runs_across_slices(start_app: StartApp) -> None:
    # A call cut off by the deadline is abandoned, and a server that sees the hang-up does not bill it.
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.05, notice_hangups=True), TASK_TIMEOUT_SECONDS=1.5,
                          SLICE_SECONDS=0.2,
                          MAX_TURNS=200)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    # Stopped by the deadline in its last slice, the run completes with its last answer.
    assert result["status"] == "completed" and result["result"]["task_result"]["stop_reason"] == "timeout"
    assert result["result"]["task_result"]["final_answer"] == UNTIL_STOPPED.final_answer
    assert len(app.host.calls_of(RUN_ACTIVITY, task_id)) >= 3  # several slices, none of them the whole run
    assert 1 <= result["result"]["execution_time"] < 4  # time in the team; the gaps between slices count too
    # Every token the run saw is counted; a call the deadline cut off may have been served (the
    # server answered into a closing connection) without the run ever seeing its usage.
    counted, served = result["prompt_tokens"] + result["completion_tokens"], app.server.served.total
    cut_off = [r.usage for r in app.server.answered if r.kind != "final_answer"][-1]
    assert counted <= served and served - counted <= (cut_off.total if cut_off else 0)
    assert app.db_rows("checkpoints") == []
    app.assert_stores_agree(task_id, result)


async def test_a_cancel_takes_effect_at_the_next_round_boundary_and_leaves_no_checkpoint(start_app: StartApp) -> None:
    # The run polls for a cancel only every 30 s: the round boundary is what notices it.
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.05, notice_hangups=True), MAX_TURNS=200,
                          CANCEL_POLL_SECONDS=30,
                          SLICE_SECONDS=60)
    task_id = await app.create_task()
    await app.host.wait_until(lambda: bool(app.db_rows("checkpoints")), 10.0, "a first checkpoint")

    cancelled_at = time.monotonic()
    response = await app.host.call_http("cancel_task", route_params={"task_id": task_id})
    await app.host.wait_idle()
    stopped_after = time.monotonic() - cancelled_at

    assert response.status_code == 202
    assert stopped_after < 2.0  # one round (a ledger and an agent turn of 50 ms each), not the 30 s poll
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled" and result["result"]["task_result"]["stop_reason"] == "cancelled"
    assert app.db_rows("checkpoints") == []  # none of the cancelled round, none left behind
    assert app.final_messages(task_id) == result["result"]["messages"]
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
