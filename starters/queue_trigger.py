"""Queue trigger: other Azure services submit tasks by dropping the `POST /tasks` JSON on a queue.

The message may carry its own `task_id`; a message for a task that already exists starts nothing.
A message that can never succeed is logged and dropped (not retried until it is poisoned);
a failure to start is raised, so the queue redelivers it (up to its maxDequeueCount).
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from magentic_tasks.service import InvalidRequest, TaskService
from magentic_tasks.settings import get_settings

from .durable import DurableOrchestrations

logger = logging.getLogger(__name__)

QUEUE_NAME = "magentic-tasks"

bp = df.Blueprint()


async def enqueue_task(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    service = TaskService(get_settings(), DurableOrchestrations(client))
    try:
        task_id = await service.submit_queued(msg.get_body())
    except InvalidRequest as invalid:
        logger.error("queue message %s dropped: invalid task: %s", msg.id, invalid.detail)
        return
    if task_id is not None:
        logger.info("queue message %s started task %s", msg.id, task_id)


bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection="AzureWebJobsStorage")(
    bp.durable_client_input(client_name="client")(enqueue_task)
)
