"""The activities: run the Magentic-One team for a task, and record a task's final failure.

autogen is imported inside the activity bodies only, so the HTTP functions that share this
process do not pay its import cost at cold start.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from magentic_tasks.schemas import TaskInput
from magentic_tasks.settings import get_settings

bp = df.Blueprint()


async def run_magentic_one_activity(payload: dict[str, Any]) -> dict[str, Any]:
    from magentic_tasks.execution import execute_task

    outcome = await execute_task(TaskInput.model_validate(payload), get_settings())
    return outcome.model_dump(mode="json")


async def record_failure_activity(payload: dict[str, Any]) -> dict[str, Any]:
    from magentic_tasks.execution import record_failure

    task = TaskInput.model_validate(payload["task"])
    outcome = await record_failure(task, str(payload.get("error", "unknown error")), get_settings())
    return outcome.model_dump(mode="json")


bp.activity_trigger(input_name="payload", activity="run_magentic_one_activity")(run_magentic_one_activity)
bp.activity_trigger(input_name="payload", activity="record_failure_activity")(record_failure_activity)
