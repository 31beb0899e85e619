"""Starting a task from a message or an event: the same path for every queue and event starter.

The message is the `POST /tasks` body plus an optional `task_id`. Without one, the task id is
derived from the message's own id (stable across redeliveries), so a redelivered message never
starts a second task. An event's id is unique only within its source (CloudEvents `source`, Event
Grid `topic`), so the pair is its key. A message without an id gets a fresh task id: a redelivery of
it cannot be recognised, which is logged. A message that can never succeed is logged and dropped; a
failure to start is raised, so the service redelivers it (and eventually dead-letters or poisons it).
"""

from __future__ import annotations

import json
import logging

import azure.durable_functions as df

from durable import DurableOrchestrations
from magentic_tasks.settings import get_settings

logger = logging.getLogger(__name__)


def message_key(source: str, message_id: str | None, origin: str | None = None) -> str | None:
    """The key a message's task id is derived from: `source:id`, or with the event's origin (its
    CloudEvents source or Event Grid topic) `source:["origin","id"]`; None without an id."""
    if not message_id:
        return None
    if origin is None:
        return f"{source}:{message_id}"
    return f"{source}:{json.dumps([origin, message_id])}"  # ASCII: any id can key a uuid5


async def submit_message(
    client: df.DurableOrchestrationClient, body: bytes, *, source: str, message_id: str | None,
    origin: str | None = None,
) -> None:
    """Start the task `body` describes; `source` names the starter in logs and in the derived task id,
    `origin` the event's own source, within which its id is unique."""
    from magentic_tasks.service import InvalidRequest, TaskService  # see starters/__init__.py

    key = message_key(source, message_id, origin)
    service = TaskService(get_settings(), DurableOrchestrations(client))
    try:
        task_id = await service.submit_queued(body, source=source, message_key=key)
    except InvalidRequest as invalid:
        logger.error("%s message %s dropped: invalid task: %s", source, message_id, invalid.detail)
        return
    if task_id is not None and key is None:
        logger.warning("%s message with no id started task %s: if it is delivered again, the de-duplication "
                       "by message id cannot recognise it (give it an id, or a task_id)", source, task_id)
    elif task_id is not None:
        logger.info("%s message %s started task %s", source, message_id, task_id)
