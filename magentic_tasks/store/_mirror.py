"""`TaskStore`, the whole mirror, and `best_effort`: how the service and activities use it.

Each method runs one function over a connection (from `_tasks`, `_transcript`, `_listing`,
`_checkpoints`, `_batches`, `_rows` or `_schema`) in one transaction of its `Database`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from ..schemas import (
    MessageView,
    ReviewDecision,
    RunOutcome,
    TaskInput,
    TaskProgress,
    TaskSnapshot,
    TaskStatus,
    TaskSummary,
    TokenUsage,
)
from ..settings import Settings, SqliteLocking
from . import _batches, _checkpoints, _files, _listing, _reviews, _rows, _schema, _tasks, _transcript
from ._batches import Batch
from ._checkpoints import Checkpoint
from ._connection import Database
from ._files import FileRow
from ._listing import PageKey
from ._transcript import StreamEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TaskStore:
    """The mirror in one SQLite file (`db`): a transaction per call, safe from any thread or process."""

    def __init__(
        self,
        path: Path | str,
        *,
        locking: SqliteLocking = "default",
        busy_timeout_ms: int = 5000,
        lock_retries: int = 5,
        stale_lock_seconds: float = 60.0,
    ) -> None:
        self.db = Database(
            path, locking=locking, busy_timeout_ms=busy_timeout_ms, lock_retries=lock_retries,
            stale_lock_seconds=stale_lock_seconds,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskStore:
        """The process's store for these settings: one per file, so the schema is checked once."""
        return _shared_store(
            str(Path(settings.tasks_db_path).expanduser().resolve()),
            settings.sqlite_locking,
            settings.sqlite_busy_timeout_ms,
        )

    @property
    def path(self) -> Path:
        return self.db.path

    # ---- tasks --------------------------------------------------------------------------------------

    def create_task(self, task: TaskInput) -> bool:
        """Insert the task as pending; False when a task with this id already exists."""
        return self.db.write(lambda conn: _rows.insert_pending(conn, task))

    def task_exists(self, task_id: str) -> bool:
        return self.db.read(lambda conn: _tasks.task_exists(conn, task_id))

    def get_task(self, task_id: str, *, transcript: bool = True) -> TaskSnapshot | None:
        """The task with its outcome when it has finished, with the transcript unless `transcript`
        is False (a status read needs one row, not the messages)."""
        return self.db.read(lambda conn: _tasks.get_task(conn, task_id, transcript=transcript))

    def set_status(self, task_id: str, status: TaskStatus, at: datetime) -> bool:
        """Move an unfinished task forward; a finished task is never changed by this."""
        return self.db.write(lambda conn: _tasks.set_status(conn, task_id, status, at))

    def save_outcome(self, task: TaskInput, outcome: RunOutcome, attempt: int | None) -> RunOutcome:
        """Record the task's final state unless it has one: the first outcome written wins, and the
        outcome SQLite holds afterwards (this one or the earlier) is returned, transcript included."""
        return self.db.write(lambda conn: _tasks.save_outcome(conn, task, outcome, attempt or 0))

    # ---- attempts and the message stream ------------------------------------------------------------

    def begin_attempt(self, task: TaskInput, at: datetime) -> int:
        """Record a new run of the team (creating the task row if it is missing); its number."""
        return self.db.write(lambda conn: _transcript.begin_attempt(conn, task, at))

    def append_messages(
        self,
        task_id: str,
        attempt: int,
        first_seq: int,
        messages: Sequence[MessageView],
        progress: TaskProgress | None = None,
    ) -> None:
        """Store transcript entries `first_seq`, `first_seq + 1`, ...; entries already stored stay as
        they are. `progress` (the attempt's own, tokens of this attempt) goes in the same transaction."""
        if messages:
            self.db.write(
                lambda conn: _transcript.append_messages(conn, task_id, attempt, first_seq, messages, progress)
            )

    def finish_attempt(
        self, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
    ) -> None:
        self.db.write(lambda conn: _rows.end_attempt(conn, task_id, attempt, at, usage, error))

    def attempt_usage(self, task_id: str) -> dict[int, dict[str, TokenUsage]]:
        """Token usage recorded by each finished attempt, by attempt number and agent."""
        return self.db.read(lambda conn: _transcript.attempt_usage(conn, task_id))

    def attempt_error(self, task_id: str, attempt: int) -> str | None:
        """The error a finished attempt recorded itself; None while it runs, or when it crashed."""
        return self.db.read(lambda conn: _transcript.attempt_error(conn, task_id, attempt))

    def messages(self, task_id: str, attempt: int) -> list[MessageView]:
        return self.db.read(lambda conn: _rows.read_messages(conn, task_id, attempt))

    def last_attempt(self, task_id: str) -> int | None:
        return self.db.read(lambda conn: _transcript.last_attempt(conn, task_id))

    def task_progress(self, task_id: str) -> TaskProgress | None:
        """The latest attempt's progress with the tokens of every attempt so far; None before any."""
        return self.db.read(lambda conn: _transcript.task_progress(conn, task_id))

    def stream_page(self, task_id: str, after: int, limit: int) -> tuple[list[StreamEntry], bool]:
        """Up to `limit` messages of the task's stream from position `after`, as (position, attempt,
        message), all of one attempt; and whether the stream holds nothing beyond them (yet)."""
        return self.db.read(lambda conn: _transcript.stream_page(conn, task_id, after, limit))

    def attempt_open(self, task_id: str, started_after: datetime) -> bool:
        """Whether an attempt started after `started_after` is still streaming (has not finished)."""
        return self.db.read(lambda conn: _transcript.attempt_open(conn, task_id, started_after))

    # ---- listing and retention ----------------------------------------------------------------------

    def list_tasks(
        self, *, owner: str | None, status: str | None, limit: int, after: PageKey | None = None
    ) -> list[TaskSummary]:
        """Up to `limit` of `owner`'s tasks (owner None: tasks created without a principal),
        newest first, optionally of one status, after the page key `after`."""
        return self.db.read(
            lambda conn: _listing.list_tasks(conn, owner=owner, status=status, limit=limit, after=after)
        )

    def delete_task(self, task_id: str) -> bool:
        """Remove every row of the task, from every table that has a `task_id` column (transcript,
        attempts, progress, checkpoints...); whether the task existed."""
        return self.db.write(lambda conn: _listing.delete_task(conn, task_id))

    def finished_before(self, moment: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` finished tasks last updated before `moment`, oldest first."""
        return self.db.read(lambda conn: _listing.finished_before(conn, moment, limit))

    # ---- round checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self, checkpoint: Checkpoint, attempt_usage: dict[str, TokenUsage]) -> int:
        """Replace the attempt's checkpoint with this one, and record the attempt's own tokens in the
        same transaction; the saved state's size in bytes."""
        return self.db.write(lambda conn: _checkpoints.save_checkpoint(conn, checkpoint, attempt_usage))

    def release_checkpoint(self, task_id: str, attempt: int, holder: str) -> bool:
        """Let the next slice continue the attempt; False when `holder` does not hold it."""
        return self.db.write(lambda conn: _checkpoints.release_checkpoint(conn, task_id, attempt, holder))

    def claim_checkpoint(self, task_id: str, attempt: int, round_: int, holder: str) -> Checkpoint | None:
        """The released checkpoint of `attempt` at `round_`, now held by `holder`; None when it is
        held, has moved on, or is gone (a second copy of a slice never continues an attempt)."""
        return self.db.write(lambda conn: _checkpoints.claim_checkpoint(conn, task_id, attempt, round_, holder))

    def latest_checkpoint(self, task_id: str) -> Checkpoint | None:
        """The checkpoint furthest into the run, over every attempt; None when there is none."""
        return self.db.read(lambda conn: _checkpoints.latest_checkpoint(conn, task_id))

    def resume_attempt(self, task_id: str, source: int, attempt: int, count: int) -> None:
        """Start `attempt`'s transcript with the first `count` entries of `source`'s: a resumed
        run's transcript is whole."""
        self.db.write(lambda conn: _checkpoints.resume_attempt(conn, task_id, source, attempt, count))

    def discard_checkpoints(self, task_id: str) -> int:
        """Drop every checkpoint of the task (its run starts over); how many there were."""
        return self.db.write(lambda conn: _checkpoints.discard_checkpoints(conn, task_id))

    # ---- plan reviews ------------------------------------------------------------------------------

    def decide_review(
        self, task_id: str, decision: ReviewDecision, at: datetime, attempt: int | None
    ) -> ReviewDecision:
        """Record the decision on the plan under review unless one is (first writer wins); the one held."""
        return self.db.write(lambda conn: _reviews.decide_review(conn, task_id, decision, at, attempt))

    def review_decision(self, task_id: str, attempt: int | None = None) -> ReviewDecision | None:
        """The decision recorded for the plan of `attempt` (None: the latest attempt's), if any."""
        return self.db.read(lambda conn: _reviews.review_decision(conn, task_id, attempt))

    def checkpoint_bytes(self, task_id: str) -> int:
        """Size of the task's stored team states."""
        return self.db.read(lambda conn: _checkpoints.checkpoint_bytes(conn, task_id))

    # ---- a task's files -----------------------------------------------------------------------------

    def record_files(self, task_id: str, rows: list[FileRow], replace_outputs: bool = False) -> None:
        """Record the task's files (with `replace_outputs`, its outputs become exactly `rows`' outputs)."""
        self.db.write(lambda conn: _files.record_files(conn, task_id, rows, replace_outputs=replace_outputs))

    def file_rows(self, task_id: str) -> list[FileRow]:
        """The task's recorded files, inputs first, each kind by name."""
        return self.db.read(lambda conn: _files.file_rows(conn, task_id))

    def save_finishing(self, task_id: str, attempt: int, outcome: RunOutcome, at: datetime) -> bool:
        """Keep the outcome of a run whose outputs wait for Blob Storage (the first one kept stays); True."""
        self.db.write(lambda conn: _files.save_finishing(conn, task_id, attempt, outcome, at))
        return True

    def finishing(self, task_id: str) -> tuple[int, RunOutcome] | None:
        """The attempt and outcome of a run waiting for its outputs to be stored; None when there is none."""
        return self.db.read(lambda conn: _files.finishing(conn, task_id))

    def drop_finishing(self, task_id: str) -> None:
        self.db.write(lambda conn: _files.drop_finishing(conn, task_id))

    # ---- a run's batches, and the file ---------------------------------------------------------------

    def write_batch(self, batch: Batch) -> int:
        """Store the batch in one transaction (entries already stored stay as they are); its entries."""
        self.db.write(lambda conn: _batches.write_batch(conn, batch))
        return len(batch.messages)

    def integrity_check(self) -> str:
        return self.db.read(_schema.integrity_check)


async def best_effort(operation: Callable[..., T], *args: Any) -> T | None:
    """Run a store operation off the event loop. The mirror never stops a task: a store failure
    (after the store's own retries) is logged and comes back as None."""
    try:
        return await asyncio.to_thread(operation, *args)
    except StoreError as error:
        logger.warning("task mirror unavailable (%s): %s", getattr(operation, "__name__", operation), error)
        return None


@lru_cache(maxsize=16)
def _shared_store(path: str, locking: SqliteLocking, busy_timeout_ms: int) -> TaskStore:
    return TaskStore(path, locking=locking, busy_timeout_ms=busy_timeout_ms)
