"""Durable state and the SQLite mirror agree when the run activity is doubled or its orchestration
terminated, end to end: real activities through the fake host, the scripted model over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from durable import DurableOrchestrations
from tests.e2e.conftest import RUN_ACTIVITY, StartApp, as_json
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)  # the request is never satisfied


async def test_a_second_live_copy_of_the_run_activity_waits_and_both_stores_hold_one_outcome(
    start_app: StartApp,
) -> None:
    app = await start_app(Script(rounds_before_satisfied=2), Faults(latency=0.05))
    task_id = await app.create_task()
    await app.host.wait_until(lambda: bool(app.host.calls_of(RUN_ACTIVITY, task_id)), 5.0, "the first copy")
    (first,) = app.host.calls_of(RUN_ACTIVITY, task_id)

    # The host runs a second copy while the first is still running (it presumed a worker dead).
    second: dict[str, Any] = await app.host.invoke_function(RUN_ACTIVITY, first.input)
    result = await app.run_to_end(task_id)

    attempts = [row for row in app.db_rows("attempts") if row["task_id"] == task_id]
    assert len(attempts) == 1 and attempts[0]["finished_at"]  # the second copy waited: one run of the team
    assert second == app.durable_outcome(task_id)  # whichever copy Durable kept, it holds the same outcome
    app.assert_stores_agree(task_id, result)
    (row,) = [r for r in app.db_rows("tasks") if r["task_id"] == task_id]
    assert row["final_attempt"] == 1
    stored = json.loads(row["outcome_json"])
    assert stored["attempts"] == second["attempts"] == 1
    assert stored["prompt_tokens"] == second["prompt_tokens"] == app.server.served_prompt_tokens  # every token, once
    contents = [m["content"] for m in result["result"]["messages"]]
    assert contents.count(contents[0]) == 1  # the prompt, once


async def test_the_reconcile_timer_reads_every_page_of_finished_instances(
    start_app: StartApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror outage longer than a page: every finished result is copied, not only the first page's."""
    monkeypatch.setattr(DurableOrchestrations, "page_size", 2)
    share = tmp_path / "share"
    share.write_text("a regular file where the database's folder should be: the share is unavailable")
    app = await start_app(TASKS_DB_PATH=share / "tasks.db")
    task_ids = [await app.create_task() for _ in range(5)]
    results = {task_id: await app.run_to_end(task_id) for task_id in task_ids}
    assert app.db_rows("tasks") == []

    share.unlink()  # the share is back
    share.mkdir()
    await app.host.run_timer("reconcile_mirror")

    assert sorted((row["task_id"], row["status"]) for row in app.db_rows("tasks")) == sorted(
        (task_id, "completed") for task_id in task_ids
    )
    for task_id in task_ids:
        app.host.purge(task_id)
        assert as_json(await app.get_result(task_id)) == results[task_id]  # served by SQLite alone


async def test_the_instance_query_follows_the_continuation_token_within_its_page_budget(
    start_app: StartApp,
) -> None:
    app = await start_app()
    task_ids = [await app.create_task() for _ in range(5)]
    for task_id in task_ids:
        await app.run_to_end(task_id)
    client = df.DurableOrchestrationClient(app.host.starter_json())
    orchestrations = DurableOrchestrations(client)
    since = datetime.now(UTC) - timedelta(hours=1)

    assert await orchestrations.finished_ids(since, page_size=2) == (task_ids, True)
    assert await orchestrations.finished_ids(since, page_size=2, max_pages=2) == (task_ids[:4], False)
    assert await orchestrations.finished_ids(since, page_size=2, budget_seconds=0) == (task_ids[:2], False)


async def test_a_terminated_orchestration_stops_its_run_and_both_stores_say_so(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.05), MAX_TURNS=200, CANCEL_POLL_SECONDS=0.1)
    task_id = await app.create_task()
    await app.host.wait_until(lambda: len(app.db_rows("messages")) >= 4, 10.0, "the run to be under way")

    await app.host.client().terminate(task_id, "operator stopped it")
    terminated_at = time.monotonic()
    await app.host.wait_idle()
    stopped_after = time.monotonic() - terminated_at
    calls = app.server.calls
    await asyncio.sleep(0.3)

    assert stopped_after < 3.0 and app.server.calls == calls  # the team stopped; no model call after
    response = await app.get_result(task_id)
    assert response.status_code == 200
    result = as_json(response)
    # Terminated through Durable's own API ends as a cancel through POST /tasks/{id}/cancel does.
    assert result["status"] == "cancelled" and result["result"]["task_result"]["stop_reason"] == "cancelled"
    assert result["error"] == "operator stopped it"
    # Tokens so far are kept; a model call cut off by the stop never reported its usage to the client.
    assert result["result"]["messages"] and 0 < result["prompt_tokens"] <= app.server.served_prompt_tokens
    (row,) = app.db_rows("tasks")
    assert row["status"] == "cancelled" and json.loads(row["outcome_json"])["stop_reason"] == "cancelled"
    app.host.purge(task_id)
    assert as_json(await app.get_result(task_id)) == result  # the same answer from SQLite alone
