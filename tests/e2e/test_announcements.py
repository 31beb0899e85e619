"""Every final state is announced exactly once, a cancelled one too: a cancel terminates the task's
orchestration, so its own `announce` never runs; the task's announcement orchestration
(`<task_id>:announce`) publishes the settled outcome once the run has stopped. And a cancel answer
never contradicts the final status: the first outcome SQLite records, the run's or the cancel's, wins."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

import activities
import orchestrators
import starters
from durable import DurableOrchestrations
from magentic_tasks.settings import get_settings
from tests.e2e.conftest import HOST_JSON, RUN_ACTIVITY, TIMER_SCALE, Harness, StartApp, app_starter, as_json
from tests.support.durable_host import FakeDurableHost
from tests.support.model_server import Faults, Script, ScriptedModelServer
from tests.support.webhook_receiver import Receiver, new_secret, webhook_receiver

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

SECRET = new_secret()
ANNOUNCED = {
    "CALLBACK_ALLOWED_HOSTS": "127.0.0.1", "CALLBACK_ALLOW_PRIVATE_NETWORKS": "true", "WEBHOOK_SECRET": SECRET,
    "EVENTS_QUEUE": "task-events", "CANCEL_POLL_SECONDS": 0.1,
}
UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)
REVIEWED = Script(rounds_before_satisfied=2)


@pytest.fixture
async def start_announcing_app(
    start_model_server: Callable[..., ScriptedModelServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[StartApp]:
    """The app as the worker indexes it with these settings (with the event sink's publishing
    activity), on a host that carries terminations out asynchronously, as a real one does."""

    async def indexed(stack: contextlib.AsyncExitStack) -> FakeDurableHost:
        settings = get_settings()
        app = df.DFApp()
        for blueprint in [*starters.starter_blueprints(settings), *orchestrators.BLUEPRINTS,
                          *activities.activity_blueprints(settings)]:
            app.register_functions(blueprint)
        host = FakeDurableHost(app, host_json=HOST_JSON, timer_scale=TIMER_SCALE, queued_terminations=True)
        return await stack.enter_async_context(host)

    async with app_starter(start_model_server, monkeypatch, tmp_path, indexed) as start:
        yield start


async def create(app: Harness, receiver: Receiver, **fields: Any) -> str:
    body = {"prompt": "What is 6 * 7?", "use_aoai": False, "callback_url": receiver.url, **fields}
    response = await app.post_task(body)
    assert response.status_code == 202, response.get_body()
    return str(as_json(response)["task_id"])


async def announced(app: Harness, task_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The events the sink got for the task, and its callback's delivery, once both are done."""
    callback = await app.host.wait_for(f"{task_id}:callback", timeout=30)
    await app.host.wait_idle()
    published = [json.loads(out.value) for out in app.host.output_bindings if out.function_name.startswith("publish")]
    return [event for event in published if event["data"]["task_id"] == task_id], callback.output


async def cancel(app: Harness, task_id: str) -> Any:
    response = await app.host.call_http("cancel_task", route_params={"task_id": task_id})
    app.responses.append(response)
    return response


async def test_a_task_cancelled_mid_run_is_announced_once_with_what_its_run_spent(
    start_announcing_app: StartApp,
) -> None:
    async with webhook_receiver(SECRET) as receiver:
        app = await start_announcing_app(UNTIL_STOPPED, Faults(latency=0.05), MAX_TURNS=200, **ANNOUNCED)
        task_id = await create(app, receiver)
        await app.host.wait_until(lambda: len(app.db_rows("messages")) >= 4, 10.0, "the run to be under way")

        assert (await cancel(app, task_id)).status_code == 202
        assert as_json(await app.get_status(task_id))["status"] == "cancelled"  # the termination carried out
        events, delivery = await announced(app, task_id)

    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled" and result["prompt_tokens"] > 0
    (event,) = events
    assert event["type"] == "magentic.task.cancelled" and event["data"]["stop_code"] == "cancelled"
    assert (event["data"]["prompt_tokens"], event["data"]["completion_tokens"]) == (
        result["prompt_tokens"], result["completion_tokens"])  # announced once the run had stopped
    assert [e["id"] for e in receiver.received] == [event["id"]]
    assert delivery["state"] == "delivered"
    assert as_json(await app.get_status(task_id))["callback"] == delivery


async def test_a_task_cancelled_while_its_plan_waits_is_announced(start_announcing_app: StartApp) -> None:
    async with webhook_receiver(SECRET) as receiver:
        app = await start_announcing_app(REVIEWED, **ANNOUNCED)
        task_id = await create(app, receiver, review="plan")
        await app.host.wait_until(lambda: [r["status"] for r in app.db_rows("tasks")] == ["awaiting_input"], 10.0,
                                  "the plan to wait for review")

        assert (await cancel(app, task_id)).status_code == 202
        events, delivery = await announced(app, task_id)

    (event,) = events
    assert event["type"] == "magentic.task.cancelled"
    assert [e["id"] for e in receiver.received] == [event["id"]] and delivery["state"] == "delivered"


async def test_a_cancel_after_the_run_recorded_its_result_is_refused_and_the_result_announced(
    start_announcing_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import magentic_tasks.run as run

    recorded, go_on = asyncio.Event(), asyncio.Event()
    real = run.execute_slice

    async def held_back(*args: Any, **kwargs: Any) -> Any:
        outcome = await real(*args, **kwargs)  # recorded in SQLite; Durable has not heard of it yet
        recorded.set()
        await go_on.wait()
        return outcome

    monkeypatch.setattr(run, "execute_slice", held_back)
    async with webhook_receiver(SECRET) as receiver:
        app = await start_announcing_app(**ANNOUNCED)
        task_id = await create(app, receiver)
        await asyncio.wait_for(recorded.wait(), 10)

        late = await cancel(app, task_id)
        status = as_json(await app.get_status(task_id))
        go_on.set()
        events, delivery = await announced(app, task_id)

    assert late.status_code == 409, late.get_body()
    assert as_json(late) == {"detail": "Task is already completed; only a pending or running task can be cancelled"}
    assert status["status"] == "completed"
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "completed" and result["result"]["task_result"]["final_answer"]
    (event,) = events  # the terminated orchestration could not announce it: its announcement did
    assert event["type"] == "magentic.task.completed"
    assert [e["id"] for e in receiver.received] == [event["id"]] and delivery["state"] == "delivered"
    assert [call.status for call in app.host.calls_of(RUN_ACTIVITY, task_id)] == ["completed"]


async def test_a_completed_task_is_announced_by_its_own_orchestration_only(start_announcing_app: StartApp) -> None:
    async with webhook_receiver(SECRET) as receiver:
        app = await start_announcing_app(**ANNOUNCED)
        task_id = await create(app, receiver)
        await app.poll_until_finished(task_id)
        events, _ = await announced(app, task_id)

    (event,) = events
    assert event["type"] == "magentic.task.completed" and len(receiver.received) == 1
    assert app.host.get_instance(f"{task_id}:announce") is None


async def test_deleting_a_task_waits_for_its_deliverys_termination_to_be_carried_out(
    start_announcing_app: StartApp,
) -> None:
    async with webhook_receiver(SECRET, fail_first=1000) as receiver:
        app = await start_announcing_app(CALLBACK_RETRY_HOURS="100", **ANNOUNCED)
        task_id = await create(app, receiver)
        await app.poll_until_finished(task_id)
        await app.host.wait_for(f"{task_id}:callback", "Running")
        await app.host.wait_until(lambda: len(receiver.attempts) >= 1, 10.0, "a first failed delivery")

        deleted = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))
        app.responses.append(deleted)

    assert deleted.status_code == 204, deleted.get_body()
    assert app.host.get_instance(task_id) is None and app.host.get_instance(f"{task_id}:callback") is None


async def test_the_finished_task_query_names_tasks_not_their_deliveries_or_announcements(
    start_announcing_app: StartApp,
) -> None:
    """The reconcile timer and the retention read this list as task ids: a `:callback` or
    `:announce` instance there would be read (and purged) as a task of its own."""
    async with webhook_receiver(SECRET) as receiver:
        app = await start_announcing_app(UNTIL_STOPPED, Faults(latency=0.05), **ANNOUNCED)
        task_id = await create(app, receiver)
        await app.host.wait_until(lambda: bool(app.host.calls_of(RUN_ACTIVITY, task_id)), 10.0, "the run")
        assert (await cancel(app, task_id)).status_code == 202
        await announced(app, task_id)
    client = df.DurableOrchestrationClient(app.host.starter_json())

    ids, complete = await DurableOrchestrations(client).finished_ids(datetime.now(UTC) - timedelta(hours=1))

    assert app.host.get_instance(f"{task_id}:announce") is not None  # both ran, and finished
    assert app.host.get_instance(f"{task_id}:callback") is not None
    assert (ids, complete) == ([task_id], True)
