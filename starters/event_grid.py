"""Event Grid trigger: start a task from an event whose `data` is the `POST /tasks` body.

Takes both the Event Grid schema and CloudEvents 1.0 (the worker's converter hands over either);
the event's `id` within its origin (CloudEvents `source`, Event Grid `topic`) is the idempotency
key: an event delivered again starts nothing new. An event whose
data is not a valid task is logged and dropped (answered as delivered, so Event Grid does not
retry it); a failure to start is raised, so Event Grid retries the delivery with its own backoff.
Registered only when `EVENT_GRID_STARTER=true`; subscribe a topic (custom topic, Logic App, API
Management...) to the function's Event Grid webhook.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

from .submission import submit_message

bp = df.Blueprint()


async def start_from_event(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    # A CloudEvent arrives as func.CloudEvent: the same `id` and `get_json()`, its origin in `source`.
    body = json.dumps(event.get_json()).encode("utf-8")
    origin = getattr(event, "source", None) or getattr(event, "topic", None) or ""
    await submit_message(client, body, source="event-grid", message_id=event.id, origin=str(origin))


bp.event_grid_trigger(arg_name="event")(bp.durable_client_input(client_name="client")(start_from_event))
