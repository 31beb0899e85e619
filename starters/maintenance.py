"""Timer trigger: the SQLite mirror catches up with Durable state.

A task whose result could not be written to SQLite when it finished (the file was locked or the
share unavailable) is copied over from Durable state, before its history is purged.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from magentic_tasks.clock import utc_now
from magentic_tasks.service import TaskService
from magentic_tasks.settings import get_settings

from .durable import DurableOrchestrations

logger = logging.getLogger(__name__)

RECONCILE_SCHEDULE = "0 */15 * * * *"
RECONCILE_WINDOW = timedelta(days=2)

bp = df.Blueprint()


async def reconcile_mirror(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    finished = await client.get_status_by(
        created_time_from=utc_now() - RECONCILE_WINDOW,
        runtime_status=[df.OrchestrationRuntimeStatus.Completed],
    )
    ids = [status.instance_id for status in finished if status.instance_id]
    repaired = await TaskService(get_settings(), DurableOrchestrations(client)).reconcile(ids)
    logger.info("mirror reconcile: %d finished tasks checked, %d copied into SQLite", len(ids), repaired)


bp.timer_trigger(arg_name="timer", schedule=RECONCILE_SCHEDULE, run_on_startup=False)(
    bp.durable_client_input(client_name="client")(reconcile_mirror)
)
