"""Service Bus queue trigger: the same messages as the Storage queue, from a Service Bus queue.

Registered only when a Service Bus connection is configured: by managed identity
(`ServiceBusConnection__fullyQualifiedNamespace`, the recommended way) or a connection string
(`ServiceBusConnection`); the queue is `SERVICE_BUS_QUEUE` (default `magentic-tasks`). An invalid
message is logged and completed (dropped); a failure to start is raised, so Service Bus abandons
the message and redelivers it until its MaxDeliveryCount, then dead-letters it.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from .submission import submit_message

CONNECTION = "ServiceBusConnection"


async def start_from_service_bus(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    await submit_message(client, msg.get_body(), source="service-bus", message_id=msg.message_id)


def blueprint(queue_name: str) -> df.Blueprint:
    """The Service Bus starter for `queue_name`."""
    bp = df.Blueprint()
    bp.service_bus_queue_trigger(arg_name="msg", queue_name=queue_name, connection=CONNECTION)(
        bp.durable_client_input(client_name="client")(start_from_service_bus)
    )
    return bp
