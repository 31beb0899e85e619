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

from durable import FAILURE_ACTIVITY, RUN_ACTIVITY, DurableOrchestrations
from magentic_tasks.schemas import TaskInput
from magentic_tasks.settings import get_settings
from magentic_tasks.telemetry import record_cancel_stopped, task_span

bp = df.Blueprint()

RUN_MODULE = "magentic_tasks.run"


async def load_run() -> ModuleType:
    """`magentic_tasks.run` (and with it autogen), imported off the event loop the first time."""
    return await asyncio.to_thread(importlib.import_module, RUN_MODULE)


# Binding parameters are annotated `Any`: on Python 3.11+ the Functions worker refuses to index a
# function whose binding parameter has a parameterised builtin such as `dict[str, Any]`
# ("binding payload has invalid non-type annotation"), and then the host gets no functions at all.
# The durable client may keep its SDK type: durable_client_input rewrites it to `str` for the worker.
# The real-worker tier (tests/worker/) pins this.


async def run_magentic_one_activity(payload: Any, client: df.DurableOrchestrationClient) -> dict[str, Any]:
    task = TaskInput.model_validate(payload)
    with task_span("run task", task.task_id, task.trace_parent, task.model_name):
        run = await load_run()
        settings = get_settings()
        durable = DurableOrchestrations(client)
        stop = run.StopSignal(lambda: durable.terminated_reason(task.task_id), settings.cancel_poll_seconds)
        outcome = await run.execute_slice(task, settings, stop=stop)  # or the run's pause between slices
        if outcome.status == "cancelled":
            await record_cancel_stopped(lambda: client.get_status(task.task_id, show_input=False), outcome.finished_at)
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


async def record_failure_activity(payload: Any) -> dict[str, Any]:
    run = await load_run()
    task = TaskInput.model_validate(payload["task"])
    with task_span("record failure", task.task_id, task.trace_parent, task.model_name):
        outcome = await run.record_failure(task, str(payload.get("error", "unknown error")), get_settings())
    return outcome.model_dump(mode="json")  # type: ignore[no-any-return]


bp.activity_trigger(input_name="payload", activity=RUN_ACTIVITY)(
    bp.durable_client_input(client_name="client")(run_magentic_one_activity)
)
bp.activity_trigger(input_name="payload", activity=FAILURE_ACTIVITY)(record_failure_activity)
