"""The one way the service finds a task: Durable state first, SQLite second, settled, mirror repaired.

Durable state is authoritative for a task's lifecycle; SQLite mirrors it and keeps what Durable
does not (image bytes, tasks whose history was purged). Every per-use module (reading, listing,
cancelling, reviewing, messages, removing) finds tasks through `TaskReader.find`, so each answer
follows the same rules: 422 for a malformed id, 404 for no task or another owner's, 503 when a
store that could change the answer cannot be read.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from functools import partial

from ..errors import StoreError
from ..files import BlobStore, ConnectionMissing, FilesUnavailable, open_blob_store
from ..redaction import Redactor
from ..schemas import FINAL_STATUSES, STOPPED, TASK_ID_PATTERN, TaskInput, TaskSnapshot
from ..settings import CANCEL_GRACE_SECONDS, Settings
from ..store import TaskStore, best_effort, in_thread
from ._errors import FilesStoreUnavailable, InvalidRequest, TaskNotFound, Unavailable, error_entry
from ._orchestrations import Orchestrations
from ._owners import visible_to

logger = logging.getLogger("magentic_tasks.service")

_TASK_ID = re.compile(TASK_ID_PATTERN)
# The host reports when an instance ended in whole seconds (lastUpdatedTime).
HOST_CLOCK_RESOLUTION = timedelta(seconds=1)
# An attempt unfinished this long after its latest possible end is presumed dead (its worker crashed).
STALE_MARGIN_SECONDS = 60.0


class TaskReader:
    """Settings, both stores, the clock and the redactor; finds, settles and repairs tasks."""

    def __init__(
        self, settings: Settings, orchestrations: Orchestrations, store: TaskStore, clock: Callable[[], datetime],
        blob_store: Callable[[], BlobStore] | None = None,
    ) -> None:
        self.settings = settings
        self.orchestrations = orchestrations
        self.store = store
        self.clock = clock
        self.redact = Redactor(settings.secrets())
        self._blob_store = blob_store or (
            lambda: open_blob_store(settings.task_files_connection, settings.task_files_container))

    @contextlib.asynccontextmanager
    async def blobs(self) -> AsyncIterator[BlobStore]:
        """The task files' Blob Storage for one use, closed after it; `FilesStoreUnavailable` (a 503)
        when it is not configured or cannot be reached."""
        try:
            store = self._blob_store()
        except (ConnectionMissing, ValueError) as error:
            logger.error("task files: %s", self.redact(str(error)))
            raise FilesStoreUnavailable("Task files are unavailable on this server; try again later") from None
        try:
            yield store
        except FilesUnavailable as error:
            logger.warning("task files: %s", self.redact(str(error)))
            raise FilesStoreUnavailable("Task files are unavailable (Blob Storage); try again later") from None
        finally:
            await store.close()

    async def find(self, task_id: str, owner: str | None, *, transcript: bool = True) -> TaskSnapshot:
        """The task as the caller may see it; `transcript=False` when the caller needs no messages
        (status, cancel, delete): SQLite then reads one row."""
        if not _TASK_ID.fullmatch(task_id):
            raise InvalidRequest([
                error_entry(("path", "task_id"), f"Task ids match {TASK_ID_PATTERN}", "string_pattern_mismatch")
            ])
        durable, durable_ok = await self.durable_snapshot(task_id)
        # SQLite is read only when it can change the answer: Durable lacks the task, or it has
        # finished (SQLite keeps the images, and may need the result copied in). Polls of a running
        # task stay off the file share.
        needs_mirror = durable is None or durable.outcome is not None
        mirrored, mirror_ok = None, True
        if needs_mirror:
            try:
                mirrored = await in_thread(partial(self.store.get_task, task_id, transcript=transcript))
            except StoreError as error:
                logger.warning("task mirror unavailable for %s: %s", task_id, self.redact(str(error)))
                mirror_ok = False
        whole = True
        if durable is not None and durable.outcome is not None and (mirrored is None or mirrored.outcome is None):
            durable, whole = await self.with_transcript(durable)  # served, or copied over, from Durable alone
        snapshot = settle(durable, mirrored)
        if snapshot is None:
            # "Not found" only when both stores answered and neither has it: a purged task whose
            # mirror cannot be read right now is unavailable, not gone.
            if not (durable_ok and mirror_ok):
                raise Unavailable("Task state is unavailable; try again later")
            raise TaskNotFound()
        if not visible_to(snapshot.owner, owner):
            raise TaskNotFound()
        if durable is not None and whole:
            await self.repair_mirror(durable, mirrored)
        return snapshot

    async def durable_snapshot(self, task_id: str) -> tuple[TaskSnapshot | None, bool]:
        """Durable state's view of the task, and whether Durable could be asked at all."""
        try:
            return await self.orchestrations.snapshot(task_id), True
        except Exception as error:
            logger.warning("Durable state for task %s unavailable: %s", task_id, self.redact(str(error)))
            return None, False

    async def with_transcript(self, durable: TaskSnapshot) -> tuple[TaskSnapshot, bool]:
        """A task Durable state holds as finished, with its transcript from the history (the
        orchestration's output has none); and whether the history could be read (a result without
        its transcript is never copied into SQLite)."""
        assert durable.outcome is not None
        try:
            messages = await self.orchestrations.transcript(durable.task_id)
        except Exception as error:
            logger.warning("Durable history of task %s unavailable: %s", durable.task_id, self.redact(str(error)))
            return durable, False
        if not messages:
            return durable, True
        return durable.model_copy(update={"outcome": durable.outcome.model_copy(update={"messages": messages})}), True

    async def repair_mirror(self, durable: TaskSnapshot, mirrored: TaskSnapshot | None) -> bool:
        """Copy a finished result that SQLite missed (it was locked or unwritable at the time);
        whether anything was copied."""
        if durable.outcome is None or (mirrored is not None and mirrored.outcome is not None):
            return False
        saved = await best_effort(self.store.save_outcome, task_input_of(durable), durable.outcome, None)
        return saved is not None

    async def streaming(self, found: TaskSnapshot) -> bool | None:
        """Whether an attempt may still add messages (None when SQLite cannot say)."""
        if found.status not in FINAL_STATUSES:
            return True
        settings = self.settings
        longest = settings.task_timeout_seconds + CANCEL_GRACE_SECONDS + settings.cancel_poll_seconds
        started_after = self.clock() - timedelta(seconds=longest + STALE_MARGIN_SECONDS)
        return await best_effort(self.store.attempt_open, found.task_id, started_after)


def settle(durable: TaskSnapshot | None, mirrored: TaskSnapshot | None) -> TaskSnapshot | None:
    """The task to serve, from what Durable state and SQLite each hold: whatever ended it first decides.

    Durable state is authoritative, SQLite fills in what it no longer has (purged history), and
    the transcript comes from SQLite once it has the finished task (only SQLite keeps image bytes).
    One exception: a task cancelled (its orchestration terminated) while its activity ran. The
    stopped run records its own `cancelled` outcome in SQLite (transcript and tokens so far), which
    is served; and a run that finished before the termination (its outcome is older than the host's
    termination time, taken with the host's one-second resolution; the activity checks for a
    termination right before it records a result) keeps its result."""
    if durable is None:
        return mirrored
    if durable.outcome is None or mirrored is None or mirrored.outcome is None:
        return durable
    held, ended = mirrored.outcome, durable.outcome
    if ended.stop_reason == STOPPED and (
        held.stop_reason == STOPPED or held.finished_at < ended.finished_at + HOST_CLOCK_RESOLUTION
    ):
        return durable.model_copy(update={"status": held.status, "outcome": held, "updated_at": held.finished_at})
    if len(held.messages) >= len(ended.messages):
        return durable.model_copy(update={"outcome": ended.model_copy(update={"messages": held.messages})})
    return durable




def task_input_of(snapshot: TaskSnapshot) -> TaskInput:
    """The task's input as far as a snapshot of it says, to write its row into the mirror."""
    return TaskInput(task_id=snapshot.task_id, prompt=snapshot.prompt, use_aoai=snapshot.use_aoai,
                     model_name=snapshot.model_name, owner=snapshot.owner, created_at=snapshot.created_at,
                     team=snapshot.team, files=snapshot.files)
