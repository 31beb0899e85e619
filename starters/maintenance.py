"""Timer trigger: the SQLite mirror catches up with Durable state.

A task whose result could not be written to SQLite when it finished (the file was locked or the
share unavailable) is copied over from Durable state, before its history is purged. Every page of
finished instances is read (the host's continuation token is followed), within a time budget.
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
    orchestrations = DurableOrchestrations(client)
    ids, complete = await orchestrations.finished_ids(utc_now() - RECONCILE_WINDOW)
    repaired = await TaskService(get_settings(), orchestrations).reconcile(ids)
    logger.info(
        "mirror reconcile: %d finished tasks checked%s, %d copied into SQLite",
        len(ids), "" if complete else " (time budget spent; the rest next run)", repaired,
    )


bp.timer_trigger(arg_name="timer", schedule=RECONCILE_SCHEDULE, run_on_startup=False)(
    bp.durable_client_input(client_name="client")(reconcile_mirror)
)
