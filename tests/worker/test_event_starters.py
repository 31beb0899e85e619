"""The Service Bus and Event Grid starters, invoked by the real worker with the host's payloads.

A message or event without a `task_id` gets one derived from its own id: delivered again, it
starts nothing new. An invalid one is logged and dropped (the invocation succeeds, so it is not
redelivered).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from magentic_tasks.service import task_id_for_message
from tests.e2e.conftest import PROMPT, Harness
from tests.support.messages import TOPIC, cloud_event, event_grid_event, service_bus_message
from tests.worker.conftest import worker_of

TASK = {"prompt": PROMPT, "use_aoai": False}

pytestmark = pytest.mark.worker_app(
    ServiceBusConnection__fullyQualifiedNamespace="tasks-ns.servicebus.windows.net", EVENT_GRID_STARTER="true"
)


@pytest.fixture
def event_app(worker_app: Harness) -> Harness:
    return worker_app


async def test_a_service_bus_message_starts_one_task_however_often_it_is_delivered(event_app: Harness) -> None:
    message = service_bus_message(TASK, message_id="sb-msg-1")

    await event_app.host.invoke_function("start_from_service_bus", message)
    await event_app.host.invoke_function("start_from_service_bus", service_bus_message(TASK, message_id="sb-msg-1",
                                                                                       delivery_count=2))

    task_id = task_id_for_message("service-bus:sb-msg-1")
    assert list(event_app.host.instances) == [task_id]
    result = await event_app.run_to_end(task_id)
    assert result["status"] == "completed" and result["result"]["messages"][0]["content"] == PROMPT


async def test_a_service_bus_message_with_its_own_task_id_uses_it(event_app: Harness) -> None:
    await event_app.host.invoke_function("start_from_service_bus", service_bus_message({**TASK, "task_id": "sb-42"}))

    assert (await event_app.run_to_end("sb-42"))["status"] == "completed"


async def test_an_event_in_either_schema_starts_one_task_keyed_by_its_id(event_app: Harness) -> None:
    # One worker for both schemas: each worker process pays autogen's import on its first run.
    for make_event, event_id in ((cloud_event, "evt-7"), (event_grid_event, "evt-8")):
        await event_app.host.invoke_function("start_from_event", make_event(TASK, event_id=event_id))
        await event_app.host.invoke_function("start_from_event", make_event(TASK, event_id=event_id))

    origins = {"evt-7": "/apps/orders", "evt-8": TOPIC}  # an event's id is unique within its source or topic
    task_ids = [task_id_for_message(f"event-grid:{json.dumps([origin, event_id])}")
                for event_id, origin in origins.items()]
    assert sorted(event_app.host.instances) == sorted(task_ids)
    for task_id in task_ids:
        assert (await event_app.run_to_end(task_id))["status"] == "completed"
    assert worker_of(event_app).errors_logged() == []


INVALID: list[tuple[str, str, Any]] = [
    ("sb not json", "start_from_service_bus", service_bus_message(b"{not json", message_id="bad-1")),
    ("sb blank prompt", "start_from_service_bus", service_bus_message({"prompt": ""}, message_id="bad-2")),
    ("cloudevent without prompt", "start_from_event", cloud_event({"use_aoai": False}, event_id="bad-3")),
    ("event data not an object", "start_from_event", event_grid_event("just a string", event_id="bad-4")),
]


async def test_invalid_messages_and_events_are_logged_and_dropped(event_app: Harness) -> None:
    for case, function, delivery in INVALID:
        returned = await event_app.host.invoke_function(function, delivery)

        assert returned is None, case  # a successful invocation: nothing redelivers it
        event_app.assert_nothing_created()
        message_id = getattr(delivery, "message_id", None) or delivery.id
        dropped = [log for log in worker_of(event_app).logs if "dropped" in log.message and message_id in log.message]
        assert len(dropped) == 1, case
