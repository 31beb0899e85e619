"""Completion events through the output bindings, and the callback orchestration, in the real worker."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Harness, StartApp, as_json
from tests.support.webhook_receiver import new_secret, webhook_receiver
from tests.worker.conftest import worker_of

SINKS = {
    "EVENTS_QUEUE": "task-events",
    "EventGridConnection__topicEndpointUri": "https://tasks.westeurope-1.eventgrid.azure.net/api/events",
    "ServiceBusConnection__fullyQualifiedNamespace": "tasks-ns.servicebus.windows.net",
    "EVENTS_SERVICE_BUS_QUEUE": "task-events",
    "EVENTS_SERVICE_BUS_TOPIC": "task-events",
}
OUTPUTS = {
    "publish_event_to_queue": ("queue", {"queueName": "task-events", "connection": "AzureWebJobsStorage"}),
    "publish_event_to_event_grid": ("eventGrid", {"connection": "EventGridConnection"}),
    "publish_event_to_service_bus_queue": ("serviceBus", {"queueName": "task-events",
                                                          "connection": "ServiceBusConnection"}),
    "publish_event_to_service_bus_topic": ("serviceBus", {"topicName": "task-events",
                                                          "connection": "ServiceBusConnection"}),
}
SECRET = new_secret()


@pytest.mark.worker_app(WEBSITE_HOSTNAME="tasks.azurewebsites.net", **SINKS)
async def test_each_configured_sink_gets_one_event_per_final_state(worker_app: Harness) -> None:
    app = worker_app
    for name, (kind, fields) in OUTPUTS.items():
        bindings = worker_of(app).functions[name].bindings
        output = next(b for b in bindings if b["direction"] == "OUT")
        assert output["type"] == kind and fields.items() <= output.items(), bindings

    task_id = await app.create_task()
    result = await app.run_to_end(task_id)

    published = {value.function_name: json.loads(value.value) for value in app.host.output_bindings}
    assert set(published) == set(OUTPUTS)
    events = list(published.values())
    assert all(event == events[0] for event in events)
    assert events[0]["type"] == "magentic.task.completed" and events[0]["data"]["task_id"] == task_id
    assert events[0]["data"]["result_url"] == f"https://tasks.azurewebsites.net/tasks/{task_id}/result"
    assert result["status"] == "completed"
    assert worker_of(app).errors_logged() == []


@pytest.mark.worker_app(EVENTS_QUEUE="task-events")
async def test_a_publish_the_host_could_not_send_is_retried_with_the_same_event_id(worker_app: Harness) -> None:
    app = worker_app
    app.host.failing_outputs = 1  # type: ignore[attr-defined]
    task_id = await app.create_task()

    await app.run_to_end(task_id)

    calls = [c for c in app.host.calls_of(instance_id=task_id) if c.name == "publish_event_to_queue"]
    assert [c.status for c in calls] == ["failed", "completed"]
    assert calls[0].input["id"] == calls[1].input["id"]
    (sent,) = app.host.output_bindings
    assert json.loads(sent.value)["id"] == calls[0].input["id"]


@pytest.mark.worker_app(CALLBACK_ALLOWED_HOSTS="127.0.0.1", CALLBACK_ALLOW_PRIVATE_NETWORKS="true",
                        WEBHOOK_SECRET=SECRET)
async def test_a_callback_is_delivered_signed_by_the_callback_orchestration(start_worker_app: StartApp) -> None:
    secret = SECRET
    async with webhook_receiver(secret, fail_first=1) as receiver:
        app = await start_worker_app()
        created = await app.post_task({"prompt": "What is 6 * 7?", "use_aoai": False, "callback_url": receiver.url})
        task_id = as_json(created)["task_id"]
        await app.run_to_end(task_id)
        callback = await app.host.wait_for(f"{task_id}:callback", timeout=60)

    assert callback.output == {"state": "delivered", "attempts": 2, "last_status_code": 204, "last_error": None}
    assert [event["data"]["task_id"] for event in receiver.received] == [task_id]
    assert secret not in "".join(log.message for log in worker_of(app).logs)


@pytest.mark.worker_app(EVENTS_QUEUE="task-events", MAX_TURNS=200, CANCEL_POLL_SECONDS=0.2)
async def test_a_cancelled_task_is_announced_once_by_its_announcement_orchestration(
    start_worker_app: StartApp,
) -> None:
    from tests.support.model_server import Faults, Script

    app = await start_worker_app(Script(rounds_before_satisfied=10_000), Faults(latency=0.1))
    task_id = await app.create_task()
    await app.host.wait_until(lambda: app.server.calls >= 2, 30.0, "the run to be under way")

    cancelled = await app.host.call_http("cancel_task", route_params={"task_id": task_id})
    announcement = await app.host.wait_for(f"{task_id}:announce", timeout=60)
    await app.host.wait_idle(timeout=30)

    assert cancelled.status_code == 202
    assert announcement.output == {"announced": "cancelled"}
    (sent,) = app.host.output_bindings
    event = json.loads(sent.value)
    result = as_json(await app.get_result(task_id))
    assert event["type"] == "magentic.task.cancelled" and event["data"]["task_id"] == task_id
    assert event["data"]["prompt_tokens"] == result["prompt_tokens"]
    assert worker_of(app).errors_logged() == []
