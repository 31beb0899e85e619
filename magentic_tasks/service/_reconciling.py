"""The mirror catching up with Durable state (the reconcile timer's work).

`reconcile` copies finished results that SQLite missed, and starts the announcement of every
terminated task that has none (an operator's terminate, or a cancel whose own start of it failed);
`mirror_recent` gives every task Durable created lately a row (`POST /tasks` writes none; a run
writes it once it begins), which the listing's completeness rests on.
"""

from __future__ import annotations

from datetime import timedelta

from ..files import fetched_key
from ..schemas import INPUTS_FOLDER, STOPPED
from ..store import FileRow, best_effort
from ._reader import TaskReader, logger, task_input_of

# How far back `GET /tasks` merges Durable's instances into SQLite's rows; the timer runs well within it.
RECENT_WINDOW = timedelta(hours=1)


async def reconcile(reader: TaskReader, task_ids: list[str]) -> int:
    """Copy finished results that SQLite is missing from Durable state; how many were copied."""
    repaired = 0
    for task_id in task_ids:
        durable, _ = await reader.durable_snapshot(task_id)
        if durable is None or durable.outcome is None:
            continue
        if durable.outcome.stop_reason == STOPPED:  # terminated: announced by its announcement, once
            try:
                await reader.orchestrations.announce(task_id)
            except Exception as error:
                logger.warning("task %s: announcement not started: %s", task_id, reader.redact(str(error)))
        mirrored = await best_effort(reader.store.get_task, task_id)
        if mirrored is not None and mirrored.outcome is not None:
            continue
        durable, whole = await reader.with_transcript(durable)
        if whole:
            repaired += await reader.repair_mirror(durable, mirrored)
    return repaired


async def mirror_recent(reader: TaskReader) -> int:
    """Give every task Durable created within `RECENT_WINDOW` a SQLite row if it has none; how many
    rows were added."""
    snapshots = await reader.orchestrations.recent(reader.clock() - RECENT_WINDOW)
    added = 0
    for snapshot in snapshots:
        added += bool(await best_effort(reader.store.create_task, task_input_of(snapshot)))
        if snapshot.files:  # so that deleting it, or retention, finds its attachments once Durable has forgotten it
            rows = [FileRow("input", f"{INPUTS_FOLDER}/{ref.name}", ref.size, ref.sha256, ref.content_type,
                            ref.blob or fetched_key(snapshot.task_id, ref.name)) for ref in snapshot.files]
            await best_effort(reader.store.record_files, snapshot.task_id, rows)
    return added
