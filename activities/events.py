"""Publishing completion events through the Functions output bindings, one activity per sink.

Each sink's activity exists only when its setting is present (decided at indexing, like the
optional starters): `EVENTS_QUEUE` (a Storage queue), `EventGridConnection__topicEndpointUri` (an
Event Grid custom topic, by managed identity), `EVENTS_SERVICE_BUS_QUEUE` / `EVENTS_SERVICE_BUS_TOPIC`
(by the Service Bus connection the starter uses). The host sends the output after the activity
returns; if it cannot, the activity fails and Durable retries it: at least once, with the event's
id unchanged, so consumers de-duplicate by id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable import publish_activity
from magentic_tasks.settings import Settings

EVENT_GRID_CONNECTION = "EventGridConnection"
SERVICE_BUS_CONNECTION = "ServiceBusConnection"
STORAGE_CONNECTION = "AzureWebJobsStorage"


def _publish(event: Any, out: func.Out[str]) -> str:
    out.set(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    return str(event["id"])


def publish_event_to_queue(event: Any, out: func.Out[str]) -> str:
    return _publish(event, out)


def publish_event_to_event_grid(event: Any, out: func.Out[str]) -> str:
    return _publish(event, out)


def publish_event_to_service_bus_queue(event: Any, out: func.Out[str]) -> str:
    return _publish(event, out)


def publish_event_to_service_bus_topic(event: Any, out: func.Out[str]) -> str:
    return _publish(event, out)


def blueprint(settings: Settings) -> df.Blueprint:
    """The publishing activities of the sinks configured in `settings`."""
    bp = df.Blueprint()

    def register(sink: str, function: Callable[..., str], output: Callable[[Any], Any]) -> None:
        bp.activity_trigger(input_name="event", activity=publish_activity(sink))(output(function))

    if settings.events_queue:
        register("queue", publish_event_to_queue, bp.queue_output(
            arg_name="out", queue_name=settings.events_queue, connection=STORAGE_CONNECTION))
    if settings.events_event_grid_topic:
        register("event_grid", publish_event_to_event_grid, bp.event_grid_output(
            arg_name="out", connection=EVENT_GRID_CONNECTION))
    if settings.events_service_bus_queue:
        register("service_bus_queue", publish_event_to_service_bus_queue, bp.service_bus_queue_output(
            arg_name="out", connection=SERVICE_BUS_CONNECTION, queue_name=settings.events_service_bus_queue))
    if settings.events_service_bus_topic:
        register("service_bus_topic", publish_event_to_service_bus_topic, bp.service_bus_topic_output(
            arg_name="out", connection=SERVICE_BUS_CONNECTION, topic_name=settings.events_service_bus_topic))
    return bp
