"""The service's view of Durable Functions, through the SDK's orchestration client."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import aiohttp
import azure.durable_functions as df
from azure.durable_functions.models.RpcManagementOptions import RpcManagementOptions

from magentic_tasks.lifecycle import snapshot_from_durable
from magentic_tasks.schemas import TaskInput, TaskSnapshot
from orchestrators.task_orchestrator import ORCHESTRATOR_NAME

logger = logging.getLogger(__name__)

# The host's instance query pages with this header: in the response when more pages follow, and
# in the request for the next page. azure-functions-durable 1.7's get_status_by reads one page only.
CONTINUATION_HEADER = "x-ms-continuation-token"
PAGE_SIZE = 100
MAX_PAGES = 200
BUDGET_SECONDS = 120.0


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

    async def finished_ids(
        self,
        created_from: datetime,
        *,
        page_size: int | None = None,
        max_pages: int | None = None,
        budget_seconds: float | None = None,
    ) -> tuple[list[str], bool]:
        """Ids of the instances created since `created_from` that finished (Completed or
        Terminated), following the host's continuation token page by page, within `max_pages` and
        `budget_seconds` (the module's defaults when None); and whether every page was read."""
        page_size, max_pages = page_size or PAGE_SIZE, max_pages or MAX_PAGES
        budget_seconds = BUDGET_SECONDS if budget_seconds is None else budget_seconds
        statuses = [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Terminated]
        base = self.client._orchestration_bindings.rpc_base_url  # the URL the SDK's own queries use
        url = RpcManagementOptions(created_time_from=created_from, runtime_status=statuses).to_url(base)
        url += f"{'&' if '?' in url else '?'}top={page_size}&showInput=false"
        ids: list[str] = []
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
                ids += [str(item["instanceId"]) for item in page or [] if item.get("instanceId")]
                if not token or token == "null":
                    return ids, True
                if time.monotonic() - started > budget_seconds:
                    break
        logger.warning("instance query stopped after %d instances; the rest is read on the next run", len(ids))
        return ids, False
