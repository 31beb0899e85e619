"""Storage queue trigger: other Azure services submit tasks by dropping the `POST /tasks` JSON on a queue.

See starters/submission.py for what a message may hold and how duplicates and invalid messages
are handled; a failure to start is retried by the queue up to its maxDequeueCount, then poisoned.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from .submission import submit_message

QUEUE_NAME = "magentic-tasks"

bp = df.Blueprint()


async def enqueue_task(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    await submit_message(client, msg.get_body(), source="storage-queue", message_id=msg.id)


bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection="AzureWebJobsStorage")(
    bp.durable_client_input(client_name="client")(enqueue_task)
)
