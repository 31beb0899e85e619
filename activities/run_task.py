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
from magentic_tasks.stop_signal import StopCheck, StopSignal
from magentic_tasks.telemetry import record_cancel_stopped, task_span

bp = df.Blueprint()

EXECUTION_MODULE = "magentic_tasks.execution"


async def load_execution() -> ModuleType:
    """`magentic_tasks.execution`, imported off the event loop the first time."""
    return await asyncio.to_thread(importlib.import_module, EXECUTION_MODULE)


# Binding parameters are annotated `Any`: on Python 3.11+ the Functions worker refuses to index a
# function whose binding parameter has a parameterised builtin such as `dict[str, Any]`
# ("binding payload has invalid non-type annotation"), and then the host gets no functions at all.
# The durable client may keep its SDK type: durable_client_input rewrites it to `str` for the worker.
# The real-worker tier (tests/worker/) pins this.


async def run_magentic_one_activity(payload: Any, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    task = TaskInput.model_validate(payload)
    with task_span("run task", task.task_id, task.trace_parent, task.model_name):
        execution = await load_execution()
        settings = get_settings()
        stop = StopSignal(terminated(client, task.task_id), settings.cancel_poll_seconds)
        outcome = await execution.execute_slice(task, settings, stop=stop)  # or the run's pause between slices
        if outcome.status == "cancelled":
            await record_cancel_stopped(lambda: client.get_status(task.task_id, show_input=False), outcome.finished_at)
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


def terminated(client: df.DurableOrchestrationClient, instance_id: str) -> StopCheck:
    """The run's stop check: Durable's terminate does not stop a running activity, so the activity
    asks the host whether its own orchestration was terminated (from any instance of the app):
    `POST /tasks/{id}/cancel` terminates it, and so may an operator. The reason given to terminate
    becomes the cancelled task's `error`, as the read path takes it from Durable state."""

    async def check() -> str | None:
        status = await client.get_status(instance_id, show_input=False)
        if status.runtime_status != df.OrchestrationRuntimeStatus.Terminated:
            return None
        return str(status.output) if status.output else "orchestration terminated"

    return check


async def record_failure_activity(payload: Any) -> dict[str, Any]:
    execution = await load_execution()
    task = TaskInput.model_validate(payload["task"])
    with task_span("record failure", task.task_id, task.trace_parent, task.model_name):
        outcome = await execution.record_failure(task, str(payload.get("error", "unknown error")), get_settings())
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


bp.activity_trigger(input_name="payload", activity="run_magentic_one_activity")(
    bp.durable_client_input(client_name="client")(run_magentic_one_activity)
)
bp.activity_trigger(input_name="payload", activity="record_failure_activity")(record_failure_activity)
