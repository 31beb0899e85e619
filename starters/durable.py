"""The service's view of Durable Functions, through the SDK's orchestration client."""

from __future__ import annotations

import azure.durable_functions as df

from magentic_tasks.lifecycle import snapshot_from_durable
from magentic_tasks.schemas import TaskInput, TaskSnapshot
from orchestrators.task_orchestrator import ORCHESTRATOR_NAME


class DurableOrchestrations:
    """`magentic_tasks.service.Orchestrations` over a `DurableOrchestrationClient`."""

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self.client = client

    async def start(self, task: TaskInput) -> None:
        payload = task.model_dump(mode="json")
        await self.client.start_new(ORCHESTRATOR_NAME, instance_id=task.task_id, client_input=payload)

    async def snapshot(self, task_id: str) -> TaskSnapshot | None:
        status = await self.client.get_status(task_id, show_input=True)
        runtime = status.runtime_status
        return snapshot_from_durable(
            instance_id=task_id,
            runtime_status=runtime.value if runtime is not None else None,
            input_=status.input_,
            custom=status.custom_status,
            output=status.output,
            created=status.created_time,
            updated=status.last_updated_time,
        )
