"""The service's `Orchestrations` over the SDK's `DurableOrchestrationClient`: the one place that
calls the Durable Functions host on a task's behalf (start, read, raise input, terminate, announce,
purge, query), and the run activity's stop check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import azure.durable_functions as df
from azure.durable_functions.models.RpcManagementOptions import RpcManagementOptions

from magentic_tasks.schemas import MessageView, PlanInput, TaskInput, TaskSnapshot

from ._codec import snapshot_from_durable, transcript_in_history
from ._names import (
    ANNOUNCE_ORCHESTRATOR,
    CALLBACK_ORCHESTRATOR,
    FAILURE_ACTIVITY,
    PLAN_INPUT_EVENT,
    RUN_ACTIVITY,
    TASK_ORCHESTRATOR,
    announcement_instance_id,
    callback_instance_id,
    is_task_instance,
)

if TYPE_CHECKING:  # the service is loaded on first use, not when the worker indexes the app
    from magentic_tasks.service import Ending

logger = logging.getLogger(__name__)

# The host's instance query pages with this header: in the response when more pages follow, and
# in the request for the next page. azure-functions-durable 1.7's get_status_by reads one page only.
CONTINUATION_HEADER = "x-ms-continuation-token"


class DurableOrchestrations:
    """`magentic_tasks.service.Orchestrations` over a `DurableOrchestrationClient`."""

    # The instance query's defaults: instances a page, pages and seconds a query at most.
    page_size = 100
    max_pages = 200
    budget_seconds = 120.0
    # How long a cancel or a purge waits for a termination to be carried out (a purge then gives up: 503).
    stop_wait_seconds = 5.0

    def __init__(self, client: df.DurableOrchestrationClient) -> None:
        self.client = client

    async def start(self, task: TaskInput) -> None:
        payload = task.model_dump(mode="json")
        await self.client.start_new(TASK_ORCHESTRATOR, instance_id=task.task_id, client_input=payload)

    async def submit_plan_input(self, task_id: str, decision: PlanInput) -> None:
        """Hand a reviewer's decision to the task waiting for it (`PLAN_INPUT_EVENT`)."""
        await self.client.raise_event(task_id, PLAN_INPUT_EVENT, decision.model_dump(mode="json", exclude_none=True))

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

    async def transcript(self, task_id: str) -> list[MessageView] | None:
        status = await self.client.get_status(task_id, show_history=True, show_history_output=True)
        # The host answers `historyEvents`; azure-functions-durable 1.7 keeps it under that name.
        events = getattr(status, "historyEvents", None) or status.history or []
        return transcript_in_history(events, (RUN_ACTIVITY, FAILURE_ACTIVITY))

    async def terminate(self, task_id: str, reason: str) -> None:
        """Terminate the task's orchestration, and wait (`stop_wait_seconds` at most) for the host to
        carry it out (a real host does so asynchronously), so that reads right after say so."""
        await self.client.terminate(task_id, reason)
        with contextlib.suppress(RuntimeError):  # still on its way: the caller goes on without it
            await self._until_ended(task_id)

    async def purge(self, task_id: str, *, stop_deliveries: bool = True) -> bool:
        """Remove the histories of the task's helpers (its callback delivery), then the task's own
        (nothing to do for one that is missing); whether they were removed. The host purges no running
        instance: a helper still running is terminated first when `stop_deliveries`, else nothing is
        removed (False). Raises when the host refuses; the task's own history is then still there."""
        # The announcement first: it may start the delivery.
        helpers = [announcement_instance_id(task_id), callback_instance_id(task_id)]
        if not stop_deliveries:
            for helper in helpers:
                if _running(await self.client.get_status(helper, show_input=False)):
                    return False
        for helper in helpers:
            if _running(await self.client.get_status(helper, show_input=False)):
                await self.client.terminate(helper, f"task {task_id} was deleted")
                await self._until_ended(helper)
        for helper in helpers:
            await self.client.purge_instance_history(helper)
        await self.client.purge_instance_history(task_id)
        return True

    async def _until_ended(self, instance_id: str) -> None:
        """Wait (`stop_wait_seconds` at most) for a termination the host has accepted to take effect: a
        real host carries it out asynchronously, through the instance's control queue."""
        deadline = time.monotonic() + self.stop_wait_seconds
        while _running(await self.client.get_status(instance_id, show_input=False)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"instance {instance_id} is still being terminated")
            await asyncio.sleep(0.2)

    async def ending(self, task_id: str) -> tuple[Ending, TaskInput | None]:
        """How the task's orchestration stands (`Ending`), and its input."""
        status = await self.client.get_status(task_id, show_input=True)
        task = _task_input(status.input_) if status and status.runtime_status is not None else None
        if task is None:
            return "missing", None
        if _running(status):
            return "running", task
        return ("completed" if status.runtime_status == df.OrchestrationRuntimeStatus.Completed else "terminated"), task

    async def announce(self, task_id: str) -> bool:
        """Start the announcement of a task whose orchestration ends without announcing its outcome
        (terminated, or crashed), once: its instance id is fixed, and a task whose orchestration
        completed announced itself. Whether this call started it."""
        ending, _ = await self.ending(task_id)
        if ending in ("completed", "missing"):
            return False
        instance_id = announcement_instance_id(task_id)
        if (await self.client.get_status(instance_id, show_input=False)).runtime_status is not None:
            return False
        try:
            await self.client.start_new(ANNOUNCE_ORCHESTRATOR, instance_id=instance_id, client_input=task_id)
        except Exception:
            # A concurrent call started it first (the host refuses a second running instance).
            if (await self.client.get_status(instance_id, show_input=False)).runtime_status is not None:
                return False
            raise
        logger.info("task %s: its announcement started", task_id)
        return True

    async def start_callback_delivery(self, task_id: str, delivery: dict[str, Any]) -> str:
        """Start the task's callback orchestration once (a re-delivered call finds it started)."""
        instance_id = callback_instance_id(task_id)
        status = await self.client.get_status(instance_id)
        if not status or status.runtime_status is None:
            await self.client.start_new(CALLBACK_ORCHESTRATOR, instance_id=instance_id, client_input=delivery)
        return instance_id

    async def terminated_reason(self, task_id: str) -> str | None:
        """Why the task's orchestration was terminated, or None while it was not: the run's stop
        check. Durable's terminate does not stop a running activity, so the activity asks the host
        (from any instance of the app): `POST /tasks/{id}/cancel` terminates, and so may an operator.
        The reason given to terminate becomes the cancelled task's `error`."""
        status = await self.client.get_status(task_id, show_input=False)
        if status.runtime_status != df.OrchestrationRuntimeStatus.Terminated:
            return None
        return str(status.output) if status.output else "orchestration terminated"

    async def callback_state(self, task_id: str) -> dict[str, Any] | None:
        status = await self.client.get_status(callback_instance_id(task_id))
        if not status or status.runtime_status is None:
            return None
        state = status.custom_status
        return state if isinstance(state, dict) else None

    async def recent(self, created_from: datetime) -> list[TaskSnapshot]:
        """Every task instance created since `created_from`, as Durable state knows it."""
        items, _ = await self._query(created_from=created_from, show_input=True)
        snapshots = [
            snapshot_from_durable(
                instance_id=str(item.get("instanceId")),
                runtime_status=item.get("runtimeStatus"),
                input_=item.get("input"),
                custom=item.get("customStatus"),
                output=item.get("output"),
                created=_time(item.get("createdTime")),
                updated=_time(item.get("lastUpdatedTime")),
            )
            for item in items
            if item.get("instanceId")
        ]
        return [snapshot for snapshot in snapshots if snapshot is not None]

    async def finished_ids(
        self,
        created_from: datetime | None = None,
        *,
        created_to: datetime | None = None,
        page_size: int | None = None,
        max_pages: int | None = None,
        budget_seconds: float | None = None,
    ) -> tuple[list[str], bool]:
        """Ids of the task instances created between `created_from` and `created_to` that finished
        (Completed or Terminated), following the host's continuation token page by page, within
        `max_pages` and `budget_seconds` (the class's defaults when None); and whether every page
        was read."""
        statuses = [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Terminated]
        items, complete = await self._query(
            created_from=created_from, created_to=created_to, statuses=statuses, show_input=False,
            page_size=page_size, max_pages=max_pages, budget_seconds=budget_seconds,
        )
        ids = [str(item["instanceId"]) for item in items if item.get("instanceId")]
        return [i for i in ids if is_task_instance(i)], complete  # not the tasks' deliveries and announcements

    async def _query(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: list[df.OrchestrationRuntimeStatus] | None = None,
        show_input: bool,
        page_size: int | None = None,
        max_pages: int | None = None,
        budget_seconds: float | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """The host's instance query, every page of it within the budget; whether all were read."""
        page_size, max_pages = page_size or self.page_size, max_pages or self.max_pages
        budget_seconds = self.budget_seconds if budget_seconds is None else budget_seconds
        base = self.client._orchestration_bindings.rpc_base_url  # the URL the SDK's own queries use
        options = RpcManagementOptions(created_time_from=created_from, created_time_to=created_to,
                                       runtime_status=statuses)
        url = options.to_url(base)
        url += f"{'&' if '?' in url else '?'}top={page_size}&showInput={'true' if show_input else 'false'}"
        items: list[dict[str, Any]] = []
        token: str | None = None
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            for _ in range(max_pages):
                headers = {CONTINUATION_HEADER: token} if token else {}
                async with session.get(url, headers=headers) as response:
                    if response.status != 200:
                        raise RuntimeError(f"instance query failed with HTTP {response.status}")
                    page = await response.json(content_type=None)
                    token = response.headers.get(CONTINUATION_HEADER)
                items += [item for item in page or [] if isinstance(item, dict)]
                if not token or token == "null":
                    return items, True
                if time.monotonic() - started > budget_seconds:
                    break
        logger.warning("instance query stopped after %d instances; the rest is read on the next run", len(items))
        return items, False


def _task_input(value: Any) -> TaskInput | None:
    """The task's input; None for an instance this service did not start."""
    try:
        return TaskInput.model_validate_json(value) if isinstance(value, str) else TaskInput.model_validate(value)
    except ValueError:
        return None


def _running(status: df.DurableOrchestrationStatus) -> bool:
    return status.runtime_status in _RUNNING


_RUNNING = frozenset({
    df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.ContinuedAsNew, df.OrchestrationRuntimeStatus.Suspended,
})


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
