"""Announcing a task whose orchestration could not: the outcome its announcement publishes.

A task's orchestration announces its final outcome itself (event sinks, callback), unless it was
terminated: a cancel (`POST /tasks/{id}/cancel`, Durable's own terminate) or a crash. Then the
task's announcement orchestration (`<task_id>:announce`, started once by the cancel and by the
reconcile timer) asks `announcement` until the task is settled and its run has stopped, and
publishes that outcome: the stopped run's tokens, or the run's own result when it had finished
before the cancel came. The event's id follows from the task and that outcome, as for any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

from ..schemas import RunOutcome, TaskInput
from ..store import best_effort
from ._reader import TaskReader, logger, settle


@dataclass(frozen=True)
class Announcement:
    """What the announcement does now: `wait` (the orchestration's termination, or its run's stop,
    is on its way), `done` (nothing to announce: the orchestration announced it, or the task is
    gone) or `announce` `outcome` (without its transcript) with the task's `task` input."""

    state: Literal["wait", "done", "announce"]
    task: TaskInput | None = None
    outcome: RunOutcome | None = None


async def announcement(reader: TaskReader, task_id: str) -> Announcement:
    ending, task = await reader.orchestrations.ending(task_id)
    if ending in ("missing", "completed") or task is None:
        return Announcement("done")
    if ending == "running":
        return Announcement("wait", task)
    durable, _ = await reader.durable_snapshot(task_id)
    mirrored = await best_effort(partial(reader.store.get_task, task_id, transcript=False))
    if durable is not None and await reader.repair_mirror(durable, mirrored):  # the cancel, recorded once
        mirrored = await best_effort(partial(reader.store.get_task, task_id, transcript=False))
    settled = settle(durable, mirrored)
    if settled is None or settled.outcome is None:
        return Announcement("wait", task)
    outcome = settled.outcome.model_copy(update={"messages": []})
    if await reader.streaming(settled) is not False:  # the stopped run records its tokens in a moment
        return Announcement("wait", task, outcome)
    logger.info("task %s: announcing its %s outcome for its terminated orchestration", task_id, outcome.status)
    return Announcement("announce", task, outcome)
