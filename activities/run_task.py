"""The activities: run the Magentic-One team for a task, and record a task's final failure.

autogen is imported inside the activity bodies only, so the HTTP functions that share this
process do not pay its import cost at cold start; and it is imported on a worker thread, so the
seconds that first import takes do not stall the other functions on this worker's event loop.
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

import azure.durable_functions as df

from magentic_tasks.schemas import TaskInput
from magentic_tasks.settings import get_settings

bp = df.Blueprint()

EXECUTION_MODULE = "magentic_tasks.execution"


async def load_execution() -> ModuleType:
    """`magentic_tasks.execution`, imported off the event loop the first time."""
    return await asyncio.to_thread(importlib.import_module, EXECUTION_MODULE)


# Binding parameters are annotated `Any`: on Python 3.11+ the Functions worker refuses to index a
# function whose binding parameter has a parameterised builtin such as `dict[str, Any]`
# ("binding payload has invalid non-type annotation"), and then the host gets no functions at all.
# The real-worker tier (tests/worker/) pins this.


async def run_magentic_one_activity(payload: Any) -> dict[str, Any]:
    execution = await load_execution()
    outcome = await execution.execute_task(TaskInput.model_validate(payload), get_settings())
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


async def record_failure_activity(payload: Any) -> dict[str, Any]:
    execution = await load_execution()
    task = TaskInput.model_validate(payload["task"])
    outcome = await execution.record_failure(task, str(payload.get("error", "unknown error")), get_settings())
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


bp.activity_trigger(input_name="payload", activity="run_magentic_one_activity")(run_magentic_one_activity)
bp.activity_trigger(input_name="payload", activity="record_failure_activity")(record_failure_activity)
