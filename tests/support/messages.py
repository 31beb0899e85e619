"""Messages and events as the Functions host hands them to the Service Bus and Event Grid starters."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")


def service_bus_message(
    body: Any, *, message_id: str | None = None, delivery_count: int = 1, without_id: bool = False
) -> ServiceBusMessage:
    """One received Service Bus message (`body`: bytes, str or a JSON value); `without_id`: one whose
    sender set no MessageId."""
    now = dt.datetime.now(dt.UTC)
    return ServiceBusMessage(
        body=_bytes(body),
        message_id=None if without_id else message_id or uuid.uuid4().hex,
        delivery_count=delivery_count,
        enqueued_time_utc=now,
        sequence_number=1,
        content_type="application/json",
        lock_token=str(uuid.uuid4()),
        application_properties={},
        user_properties={},
    )


TOPIC = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/tasks"


def event_grid_event(data: Any, *, event_id: str | None = None, topic: str = TOPIC) -> func.EventGridEvent:
    """An Event Grid schema event whose `data` is `data`."""
    return func.EventGridEvent(
        id=event_id or str(uuid.uuid4()),
        data=data,
        topic=topic,
        subject="tasks/new",
        event_type="Magentic.TaskRequested",
        event_time=dt.datetime.now(dt.UTC),
        data_version="1.0",
    )


def cloud_event(data: Any, *, event_id: str | None = None, source: str = "/apps/orders") -> func.CloudEvent:
    """A CloudEvents 1.0 event whose `data` is `data`."""
    return func.CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type="com.example.task.requested",
        specversion="1.0",
        data=data,
        subject="tasks/new",
        datacontenttype="application/json",
    )
