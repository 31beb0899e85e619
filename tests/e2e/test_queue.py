"""Tasks submitted through the `magentic-tasks` queue, as other Azure services submit them."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest

from starters.event_grid import start_from_event
from starters.queue_trigger import enqueue_task
from starters.service_bus import start_from_service_bus
from tests.e2e.conftest import PROMPT, RUN_ACTIVITY, Harness, StartApp, as_json
from tests.support.durable_host import QueueDelivery
from tests.support.messages import cloud_event, event_grid_event, service_bus_message

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

QUEUE = "magentic-tasks"


def message(**fields: Any) -> dict[str, Any]:
    return {"prompt": PROMPT, "use_aoai": False, **fields}


def assert_delivered_once(delivery: QueueDelivery) -> None:
    """The function returned normally on the first dequeue: the message is not retried or poisoned."""
    assert (delivery.succeeded, delivery.attempts, delivery.poisoned, delivery.errors) == (True, 1, False, [])


async def test_a_queued_task_runs_and_is_read_back_by_its_own_id(app: Harness) -> None:
    delivery = await app.host.send_queue_message(QUEUE, message(task_id="order-42"))

    assert_delivered_once(delivery)
    status = await app.poll_until_finished("order-42")
    result = await app.run_to_end("order-42")
    assert (status["status"], status["prompt"]) == ("completed", PROMPT)
    assert result["status"] == "completed"
    assert result["result"]["task_result"]["final_answer"] == app.server.script.final_answer
    assert result["prompt_tokens"] == app.server.served_prompt_tokens
    assert list(app.host.instances) == ["order-42"]
    assert app.durable_output("order-42")["status"] == "completed"
    (row,) = app.db_rows("tasks")
    assert (row["task_id"], row["status"], row["owner"]) == ("order-42", "completed", None)


async def test_the_same_message_delivered_again_starts_nothing(app: Harness) -> None:
    first = await app.host.send_queue_message(QUEUE, message(task_id="order-7"))
    while_running = await app.host.send_queue_message(QUEUE, message(task_id="order-7"))
    await app.poll_until_finished("order-7")
    await app.host.wait_idle()
    calls_before = app.server.calls
    after_finishing = await app.host.send_queue_message(QUEUE, message(task_id="order-7"))
    await app.host.wait_idle()

    for delivery in (first, while_running, after_finishing):
        assert_delivered_once(delivery)
    assert list(app.host.instances) == ["order-7"]
    assert [c.name for c in app.host.calls_of(instance_id="order-7")] == [RUN_ACTIVITY]
    assert app.server.calls == calls_before
    assert len(app.db_rows("tasks")) == 1 and len(app.db_rows("attempts")) == 1
    assert (await app.get_result("order-7")).status_code == 200


async def test_a_message_without_a_task_id_gets_one(app: Harness) -> None:
    delivery = await app.host.send_queue_message(QUEUE, message())

    assert_delivered_once(delivery)
    (task_id,) = app.host.instances
    await app.poll_until_finished(task_id)
    result = await app.run_to_end(task_id)
    assert result["task_id"] == task_id and result["status"] == "completed"
    assert [row["task_id"] for row in app.db_rows("tasks")] == [task_id]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b"{not json", "json_invalid", id="not json"),
        pytest.param({"use_aoai": False, "task_id": "t-1"}, "missing", id="missing prompt"),
        pytest.param(message(model_name="gpt-3"), "model_not_allowed", id="disallowed model"),
        pytest.param(message(task_id="bad/id"), "string_pattern_mismatch", id="malformed task id"),
        pytest.param(message(callback_url="https://[hooks.example.com/"), "callback_url_refused",
                     id="malformed callback url"),
        pytest.param(message(callback_url="https://hooks.example\uff03.com/"), "callback_url_refused",
                     id="callback url invalid under NFKC"),
    ],
)
async def test_an_invalid_message_is_logged_and_dropped_not_retried(
    body: bytes | dict[str, Any], problem: str, start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = await start_app(ALLOWED_MODELS="gpt-4o", CALLBACK_ALLOWED_HOSTS="hooks.example.com")

    with caplog.at_level(logging.INFO, logger="starters"):
        delivery = await app.host.send_queue_message(QUEUE, body, message_id="msg-1")

    assert_delivered_once(delivery)
    assert app.host.poison_messages == [] and app.host.function_errors == []
    app.assert_nothing_created()
    logged = [r.getMessage() for r in caplog.records if r.name == "starters.submission"]
    assert len(logged) == 1 and "msg-1" in logged[0] and "dropped" in logged[0] and problem in logged[0]
    # A later valid message still works.
    ok = await app.host.send_queue_message(QUEUE, message(task_id="after-bad"))
    assert_delivered_once(ok)
    assert as_json(await app.get_status("after-bad"))["task_id"] == "after-bad"
    await app.poll_until_finished("after-bad")
    await app.host.wait_idle()


# The Event Grid and Service Bus starters, called as the worker calls them (a durable client bound
# to the host); tests/worker/test_event_starters.py drives them through the real worker.


async def test_events_with_the_same_id_from_different_sources_start_a_task_each(app: Harness) -> None:
    """CloudEvents ids are unique per source (Event Grid ids per topic): only the pair is one event."""
    events = [
        cloud_event(message(), event_id="1", source="/apps/orders"),
        cloud_event(message(), event_id="1", source="/apps/orders"),  # delivered again
        cloud_event(message(), event_id="1", source="/apps/billing"),
        event_grid_event(message(), event_id="1", topic="/topics/orders"),
        event_grid_event(message(), event_id="1", topic="/topics/billing"),
    ]

    for event in events:
        await start_from_event(event, app.host.client())

    assert len(app.host.instances) == 4
    for task_id in list(app.host.instances):
        await app.poll_until_finished(task_id)
    await app.host.wait_idle()


async def test_messages_without_an_id_start_a_task_each_and_say_why_they_cannot_be_deduplicated(
    app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="starters"):
        for body in (message(), message(prompt="What is 2 + 2?")):
            await start_from_service_bus(service_bus_message(body, without_id=True), app.host.client())
            await enqueue_task(func.QueueMessage(body=json.dumps(body).encode()), app.host.client())

    assert len(app.host.instances) == 4
    warned = [r.getMessage() for r in caplog.records if r.name == "starters.submission"]
    assert len(warned) == 4 and all("no id" in text and "de-duplicat" in text for text in warned)
    for task_id in list(app.host.instances):
        await app.poll_until_finished(task_id)
    await app.host.wait_idle()
