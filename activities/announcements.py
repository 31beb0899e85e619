"""What a terminated task's announcement publishes, asked of the service (`TaskService.announcement`)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from durable import ANNOUNCEMENT_ACTIVITY, DurableOrchestrations
from magentic_tasks.settings import get_settings

bp = df.Blueprint()


async def announcement_activity(task_id: Any, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    from magentic_tasks.service import TaskService  # loaded on first use, as the starters do

    found = await TaskService(get_settings(), DurableOrchestrations(client)).announcement(str(task_id))
    return {
        "state": found.state,
        "task": None if found.task is None else found.task.model_dump(mode="json"),
        "outcome": None if found.outcome is None else found.outcome.model_dump(mode="json"),
    }


bp.activity_trigger(input_name="task_id", activity=ANNOUNCEMENT_ACTIVITY)(
    bp.durable_client_input(client_name="client")(announcement_activity)
)
