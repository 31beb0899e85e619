"""Starting a task from a message or an event: the same path for every queue and event starter.

The message is the `POST /tasks` body plus an optional `task_id`. Without one, the task id is
derived from the message's own id (stable across redeliveries), so a redelivered message never
starts a second task. A message that can never succeed is logged and dropped; a failure to start
is raised, so the service redelivers it (and eventually dead-letters or poisons it).
"""

from __future__ import annotations

import logging

import azure.durable_functions as df

from durable import DurableOrchestrations
from magentic_tasks.settings import get_settings

logger = logging.getLogger(__name__)


async def submit_message(client: df.DurableOrchestrationClient, body: bytes, *, source: str, message_id: str) -> None:
    """Start the task `body` describes; `source` names the starter in logs and in the derived task id."""
    from magentic_tasks.service import InvalidRequest, TaskService  # see starters/__init__.py

    service = TaskService(get_settings(), DurableOrchestrations(client))
    try:
        task_id = await service.submit_queued(body, source=source, message_id=message_id)
    except InvalidRequest as invalid:
        logger.error("%s message %s dropped: invalid task: %s", source, message_id, invalid.detail)
        return
    if task_id is not None:
        logger.info("%s message %s started task %s", source, message_id, task_id)
