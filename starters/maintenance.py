"""Timer triggers: the SQLite mirror catches up with Durable state, and old tasks are let go.

`reconcile_mirror` (every 15 minutes): a task whose result could not be written to SQLite when it
finished (the file was locked or the share unavailable) is copied over from Durable state, before
its history is purged, and a task created within the last hour that SQLite has no row for gets
one (so `GET /tasks` stays complete). Every page of instances is read (the host's continuation
token is followed), within a time budget.

`apply_retention` (daily, 03:30 UTC): Durable history of tasks finished more than
`DURABLE_RETENTION_DAYS` ago is purged once SQLite holds their result; tasks finished more than
`TASK_RETENTION_DAYS` ago (if set) are deleted from both stores.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from durable import DurableOrchestrations
from magentic_tasks.clock import utc_now
from magentic_tasks.settings import get_settings

logger = logging.getLogger(__name__)

RECONCILE_SCHEDULE = "0 */15 * * * *"
RECONCILE_WINDOW = timedelta(days=2)
RETENTION_SCHEDULE = "0 30 3 * * *"

bp = df.Blueprint()


async def reconcile_mirror(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    from magentic_tasks.service import TaskService  # see starters/__init__.py

    orchestrations = DurableOrchestrations(client)
    ids, complete = await orchestrations.finished_ids(utc_now() - RECONCILE_WINDOW)
    service = TaskService(get_settings(), orchestrations)
    repaired = await service.reconcile(ids)
    rows = await service.mirror_recent()
    logger.info(
        "mirror reconcile: %d finished tasks checked%s, %d copied into SQLite, %d missing rows added",
        len(ids), "" if complete else " (time budget spent; the rest next run)", repaired, rows,
    )


async def apply_retention(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    from magentic_tasks.service import TaskService  # see starters/__init__.py

    report = await TaskService(get_settings(), DurableOrchestrations(client)).apply_retention()
    logger.info(
        "retention: %d Durable histories purged, %d tasks deleted", report.histories_purged, report.tasks_deleted
    )


bp.timer_trigger(arg_name="timer", schedule=RECONCILE_SCHEDULE, run_on_startup=False)(
    bp.durable_client_input(client_name="client")(reconcile_mirror)
)
bp.timer_trigger(arg_name="timer", schedule=RETENTION_SCHEDULE, run_on_startup=False)(
    bp.durable_client_input(client_name="client")(apply_retention)
)
