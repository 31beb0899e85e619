"""Removing tasks: `DELETE /tasks/{id}`, and the retention that purges and deletes old tasks.

Order matters: Durable history is purged first, then the task's files in Blob Storage (when it has
any), then the SQLite rows. The other way round, a read between the two would copy the finished
result from Durable back into SQLite (read repair); and the rows are what say that it has files.
A task still pending or running is refused (`Conflict`): cancel it first, so that a deleted task
can never have a run still spending tokens and writing rows; so is a cancelled task whose run is
still stopping (or when SQLite cannot say whether it is). A callback delivery still retrying is
stopped when its task is deleted (by request or by `TASK_RETENTION_DAYS`); the retention of Durable
history alone (`DURABLE_RETENTION_DAYS`) leaves it to finish and purges that task on a later run.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from ..files import task_prefix
from ..schemas import FINAL_STATUSES, TaskSnapshot
from ..store import best_effort, in_thread
from ._errors import Conflict, FilesStoreUnavailable, Unavailable
from ._reader import TaskReader, logger

# Tasks deleted by one retention run at most; the rest wait for the next run.
RETENTION_BATCH = 500


@dataclass(frozen=True)
class RetentionReport:
    histories_purged: int
    tasks_deleted: int


async def delete(reader: TaskReader, task_id: str, owner: str | None) -> None:
    """`DELETE /tasks/{id}`: a finished task, from both stores and its workspace."""
    found = await reader.find(task_id, owner, transcript=False)
    if found.status not in FINAL_STATUSES:
        raise Conflict(f"Task is {found.status}; cancel it first (POST /tasks/{task_id}/cancel), then delete it")
    if await reader.streaming(found) is not False:
        # A cancelled run winds down for a few seconds and would write its rows back afterwards.
        raise Conflict(f"Task is {found.status} but its run is still stopping; try again in a few seconds", 5)
    try:
        await remove(reader, task_id, found)
    except FilesStoreUnavailable:
        raise
    except Exception as error:
        logger.warning("task %s could not be deleted: %s", task_id, reader.redact(str(error)))
        raise Unavailable("The task could not be deleted; try again later") from None


async def remove(reader: TaskReader, task_id: str, found: TaskSnapshot | None = None) -> None:
    """Durable history, files, SQLite rows and workspace of a finished task; raises if a store fails."""
    await reader.orchestrations.purge(task_id)
    if await _has_files(reader, task_id, found):
        async with reader.blobs() as blobs:
            await blobs.delete_prefix(task_prefix(task_id))
    await in_thread(reader.store.delete_task, task_id)
    await asyncio.to_thread(shutil.rmtree, reader.settings.task_workspace_root / task_id, True)


async def _has_files(reader: TaskReader, task_id: str, found: TaskSnapshot | None) -> bool:
    """Whether the task may have blobs: attachments or outputs known to either store."""
    if found is not None and (found.files or (found.outcome is not None and found.outcome.files)):
        return True
    if await in_thread(reader.store.file_rows, task_id):
        return True
    held = await in_thread(partial(reader.store.get_task, task_id, transcript=False))
    return held is not None and held.outcome is not None and bool(held.outcome.files)


async def apply_retention(reader: TaskReader) -> RetentionReport:
    """Purge the Durable history of tasks finished more than `DURABLE_RETENTION_DAYS` ago (their
    results stay readable from SQLite: a history is purged only once SQLite holds its result),
    and delete tasks finished more than `TASK_RETENTION_DAYS` ago from both stores."""
    now, settings = reader.clock(), reader.settings
    purged = deleted = 0
    if settings.durable_retention_days is not None:
        cutoff = now - timedelta(days=settings.durable_retention_days)
        ids, _ = await reader.orchestrations.finished_ids(created_to=cutoff)
        for task_id in ids:
            try:
                purged += await _purge_if_mirrored(reader, task_id, cutoff)
            except Exception as error:  # one task the host would not purge does not hold up the others
                logger.warning("retention: history of task %s not purged: %s", task_id, reader.redact(str(error)))
    if settings.task_retention_days is not None:
        cutoff = now - timedelta(days=settings.task_retention_days)
        for task_id in await best_effort(reader.store.finished_before, cutoff, RETENTION_BATCH) or []:
            try:
                await remove(reader, task_id)
            except Exception as error:
                logger.warning("retention: task %s not deleted: %s", task_id, reader.redact(str(error)))
                continue
            deleted += 1
    return RetentionReport(histories_purged=purged, tasks_deleted=deleted)


async def _purge_if_mirrored(reader: TaskReader, task_id: str, cutoff: datetime) -> bool:
    durable, _ = await reader.durable_snapshot(task_id)
    if durable is None or durable.outcome is None or durable.updated_at > cutoff:
        return False
    await reader.repair_mirror(durable, await best_effort(reader.store.get_task, task_id))
    mirrored = await best_effort(reader.store.get_task, task_id)
    if mirrored is None or mirrored.outcome is None:
        logger.warning("retention: task %s kept in Durable: SQLite does not hold its result", task_id)
        return False
    if not await reader.orchestrations.purge(task_id, stop_deliveries=False):
        logger.info("retention: task %s kept in Durable until its callback delivery ends", task_id)
        return False
    return True
