"""The files' part of an attempt's start and end: the team runs on the task text once its
attachments are staged, and a finished run's outcome carries the outputs it kept. A run whose
outputs could not reach Blob Storage is held in SQLite (`finishing_outcomes`): the retried activity
stores them and records that outcome (`finish_pending`), and if no retry can, the failure record
keeps the outcome all the same, saying what was not kept (`record_pending`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..errors import TaskRunError
from ..files import FetchFailed, FilesUnavailable
from ..schemas import MessageView, RunOutcome, SkippedFile, TaskFile, TaskInput
from ..settings import Settings
from ..store import TaskStore, best_effort
from ..telemetry import record_outcome
from ..text import storable
from ._files import FilesRefused, RunFiles, remove_workspace
from ._metering import AttemptMeter
from ._shaping import without_image_bytes
from ._types import RunReport

BLOB_STORAGE_DOWN = "not kept: Blob Storage was unavailable when the run ended"


def for_durable(outcome: RunOutcome) -> RunOutcome:
    """The outcome as Durable state keeps it: every image replaced by a reference."""
    return outcome.model_copy(update={"messages": without_image_bytes(outcome.messages)})


async def staged_run(
    files: RunFiles, meter: AttemptMeter, run: Callable[[str], Awaitable[RunReport]]
) -> RunReport:
    """The team's run on the task text once the attachments are in place; a failed report when they
    cannot be (retryable unless trying again cannot help)."""
    try:
        text = await files.prepare()
    except FilesRefused as refused:
        return RunReport(status="failed", messages=[_prompt_view(files.task)], usage_by_agent=dict(meter.by_agent),
                         execution_time=0.0, error=str(refused), stop_reason="error")
    except (FilesUnavailable, FetchFailed) as error:
        return RunReport(status="failed", messages=[_prompt_view(files.task)], usage_by_agent=dict(meter.by_agent),
                         execution_time=0.0, error=f"the task's files: {error}", stop_reason="error", retryable=True)
    return await run(text)


def _prompt_view(task: TaskInput) -> MessageView:
    return MessageView(source="user", content=storable(task.prompt), type="TextMessage")


async def with_outputs(files: RunFiles, outcome: RunOutcome, *, after_retry: bool = False) -> RunOutcome:
    kept, skipped = await files.keep(after_retry=after_retry)
    return outcome.model_copy(update={"files": kept, "files_skipped": [*outcome.files_skipped, *skipped]})


async def finish_pending(
    task: TaskInput, settings: Settings, store: TaskStore, attempt: int, outcome: RunOutcome
) -> RunOutcome:
    """A retried activity whose team had finished: store the outputs, then record the outcome."""
    workspace = settings.task_workspace_root / task.task_id
    try:
        outcome = await with_outputs(RunFiles(task, settings, store, workspace), outcome, after_retry=True)
    except FilesUnavailable as error:
        raise TaskRunError(f"the task's outputs could not be stored ({error}); retrying") from None
    await asyncio.to_thread(remove_workspace, workspace)
    held = await best_effort(store.save_outcome, task, outcome, attempt)
    await best_effort(store.drop_finishing, task.task_id)
    record_outcome(task.model_name, outcome, held)
    return for_durable(held or outcome)


async def record_pending(task: TaskInput, settings: Settings, store: TaskStore) -> RunOutcome | None:
    """For the failure record: the held outcome of a run whose outputs never reached Blob Storage,
    recorded with the outputs kept before (at pauses) and a note of the rest; None without one."""
    pending = await best_effort(store.finishing, task.task_id)
    if pending is None:
        return None
    attempt, finished = pending
    rows = await best_effort(store.file_rows, task.task_id) or []
    kept = [TaskFile(name=r.name, size=r.size, sha256=r.sha256, content_type=r.content_type)
            for r in rows if r.kind == "output" and r.size is not None and r.sha256 is not None]
    lost = SkippedFile(name="...", reason=BLOB_STORAGE_DOWN)
    finished = finished.model_copy(update={"files": kept, "files_skipped": [*finished.files_skipped, lost]})
    held = await best_effort(store.save_outcome, task, finished, attempt)
    await best_effort(store.drop_finishing, task.task_id)
    await asyncio.to_thread(remove_workspace, settings.task_workspace_root / task.task_id)
    record_outcome(task.model_name, finished, held)
    return for_durable(held or finished)
