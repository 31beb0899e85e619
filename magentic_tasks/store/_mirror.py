"""`TaskStore`, the whole mirror: how the service and activities use it.

Each method runs one function over a connection (from `_tasks`, `_transcript`, `_listing`,
`_checkpoints`, `_reviews`, `_files`, `_batches`, `_rows` or `_schema`) in one transaction: on the
shared `Database` for what is about tasks (rows, outcomes, listing), on the task's own file
(`TaskFiles`) for what is about its runs (attempts, messages, progress, usage, checkpoints, plan
reviews, its files' rows, an outcome waiting for Blob Storage).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

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
from . import _batches, _checkpoints, _files, _lease, _listing, _outcomes, _reviews, _rows, _schema, _tasks, _transcript
from ._batches import Batch
from ._checkpoints import Checkpoint
from ._connection import Database
from ._files import FileRow
from ._listing import PageKey
from ._task_files import NotFresh, TaskFiles
from ._transcript import StreamEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TaskStore:
    """The mirror: the shared file `db` (a row per task, its outcome; listing and retention) and a
    file per task (`files`: attempts, messages, progress, usage, checkpoints). Each call is one
    transaction on one file, safe from any thread or process, except where it says otherwise."""

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
        self.files = TaskFiles(self.db)
        self.db.after_migration = self.files.make_folders

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

    def task_file(self, task_id: str) -> Path:
        """Where the task's own file is (or will be)."""
        return self.files.path(task_id)

    # ---- tasks (the shared file) ----------------------------------------------------------------------

    def create_task(self, task: TaskInput) -> bool:
        """Insert the task as pending; False when a task with this id already exists."""
        return self.db.write(lambda conn: _rows.insert_pending(conn, task))

    def task_exists(self, task_id: str) -> bool:
        return self.db.read(lambda conn: _tasks.task_exists(conn, task_id))

    def get_task(self, task_id: str, *, transcript: bool = True) -> TaskSnapshot | None:
        """The task with its outcome when it has finished, with the transcript unless `transcript`
        is False (a status read needs one row of the shared file, not the task's own file)."""
        found = self.db.read(lambda conn: _tasks.get_task(conn, task_id))
        if found is None:
            return None
        snapshot, final_attempt = found
        if transcript and snapshot.outcome is not None:
            snapshot.outcome.messages = self.messages(task_id, final_attempt)
        return snapshot

    def set_status(self, task_id: str, status: TaskStatus, at: datetime) -> bool:
        """Move an unfinished task forward; a finished task is never changed by this."""
        return self.db.write(lambda conn: _tasks.set_status(conn, task_id, status, at))

    def mark_running(self, task: TaskInput, at: datetime) -> None:
        """An attempt began: the task's row (made if it is missing) says running unless it is final."""
        self.db.write(lambda conn: _tasks.mark_running(conn, task, at))

    def save_outcome(
        self, task: TaskInput, outcome: RunOutcome, attempt: int | None, streamed: bool = False
    ) -> RunOutcome:
        """Record the task's final state unless it has one: the first outcome written wins, and the
        outcome SQLite holds afterwards (this one or the earlier) is returned, transcript included.
        `streamed`: the attempt's last batch stored its whole transcript and dropped its checkpoints.
        Up to three transactions, the shared file's in the middle (`_outcomes`)."""
        return _outcomes.save_outcome(self.db, self.files, task, outcome, attempt, streamed)

    # ---- attempts and the message stream (the task's own file) ----------------------------------------

    def begin_attempt(self, task: TaskInput, at: datetime) -> int:
        """Record a new run of the team; its number. The task's row is `mark_running`'s."""
        return self.files.write(task.task_id, lambda conn: _transcript.begin_attempt(conn, task.task_id, at),
                                task.created_at)

    def begin_first_attempt(self, task: TaskInput, at: datetime, lease: tuple[str, float] | None = None) -> int | None:
        """Begin the task's first attempt in the transaction that makes its file, taking the lease
        (holder, until) for it: its number; None when the task has a file already (it has run, or
        has an outcome: ask `get_task` first)."""

        def begin(conn: sqlite3.Connection) -> int:
            if lease is not None:
                _lease.take_lease(conn, task.task_id, lease[0], at.timestamp(), lease[1])
            return _transcript.begin_attempt(conn, task.task_id, at)

        try:
            return self.files.write(task.task_id, begin, task.created_at, fresh=True)
        except NotFresh:
            return None

    def start_attempt(self, task: TaskInput, at: datetime) -> tuple[int, Checkpoint | None, list[MessageView]]:
        """Begin an attempt resumed from the latest checkpoint whose transcript is whole (copied into
        the new attempt's), in one transaction; its number, that checkpoint and that transcript."""
        return self.files.write(task.task_id, lambda conn: _checkpoints.begin_resumed(conn, task.task_id, at),
                                task.created_at)

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
            self.files.write(
                task_id, lambda conn: _transcript.append_messages(conn, task_id, attempt, first_seq, messages, progress)
            )

    def finish_attempt(
        self, task_id: str, attempt: int, at: datetime, usage: dict[str, TokenUsage], error: str | None
    ) -> None:
        self.files.write(task_id, lambda conn: _rows.end_attempt(conn, task_id, attempt, at, usage, error))

    def attempt_usage(self, task_id: str) -> dict[int, dict[str, TokenUsage]]:
        """Token usage recorded by each finished attempt, by attempt number and agent."""
        return self.files.read(task_id, lambda conn: _transcript.attempt_usage(conn, task_id))

    def attempt_error(self, task_id: str, attempt: int) -> str | None:
        """The error a finished attempt recorded itself; None while it runs, or when it crashed."""
        return self.files.read(task_id, lambda conn: _transcript.attempt_error(conn, task_id, attempt))

    def messages(self, task_id: str, attempt: int | None) -> list[MessageView]:
        if attempt is None:
            return []
        return self.files.read(task_id, lambda conn: _rows.read_messages(conn, task_id, attempt))

    def last_attempt(self, task_id: str) -> int | None:
        return self.files.read(task_id, lambda conn: _transcript.last_attempt(conn, task_id))

    def task_progress(self, task_id: str) -> TaskProgress | None:
        """The latest attempt's progress with the tokens of every attempt so far; None before any."""
        return self.files.read(task_id, lambda conn: _transcript.task_progress(conn, task_id))

    def stream_page(self, task_id: str, after: int, limit: int) -> tuple[list[StreamEntry], bool]:
        """Up to `limit` messages of the task's stream from position `after`, as (position, attempt,
        message), one attempt's run of them; and whether the stream holds nothing beyond them (yet)."""
        return self.files.read(task_id, lambda conn: _transcript.stream_page(conn, task_id, after, limit))

    def attempt_open(self, task_id: str, started_after: datetime) -> bool:
        """Whether an attempt started after `started_after` is still streaming (has not finished)."""
        return self.files.read(task_id, lambda conn: _transcript.attempt_open(conn, task_id, started_after))

    # ---- the lease of the task's live run (the task's own file) ---------------------------------------

    def take_lease(self, task_id: str, holder: str, now: float, until: float) -> bool:
        """Take the lease unless another holder's is live; whether `holder` holds it now."""
        return self.files.write(task_id, lambda conn: _lease.take_lease(conn, task_id, holder, now, until))

    def renew_lease(self, task_id: str, holder: str, until: float) -> bool:
        return self.files.write(task_id, lambda conn: _lease.renew_lease(conn, task_id, holder, until))

    def release_lease(self, task_id: str, holder: str) -> None:
        self.files.write(task_id, lambda conn: _lease.release_lease(conn, task_id, holder))

    def live_holder(self, task_id: str, now: float) -> str | None:
        return self.files.read(task_id, lambda conn: _lease.live_holder(conn, task_id, now))

    def hold(self, task_id: str) -> None:
        """Keep the task's file open between transactions (a run writing it) until `release`."""
        self.files.hold(task_id)

    def release(self, task_id: str) -> None:
        self.files.release(task_id)

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
        """Remove the task: its own file first, then its row (and any rows a run before schema v6
        left in the shared file). A crash between the two leaves the row, which the next delete or
        retention run removes; never a file without a row. Whether the task existed."""
        self.files.remove(task_id)
        return self.db.write(lambda conn: _listing.delete_task(conn, task_id))

    def finished_before(self, moment: datetime, limit: int) -> list[str]:
        """Ids of up to `limit` finished tasks last updated before `moment`, oldest first."""
        return self.db.read(lambda conn: _listing.finished_before(conn, moment, limit))

    # ---- round checkpoints (the task's own file) -----------------------------------------------------

    def save_checkpoint(self, checkpoint: Checkpoint, attempt_usage: dict[str, TokenUsage]) -> int:
        """Replace the attempt's checkpoint with this one, and record the attempt's own tokens in the
        same transaction; the saved state's size in bytes."""
        return self.files.write(
            checkpoint.task_id, lambda conn: _checkpoints.save_checkpoint(conn, checkpoint, attempt_usage)
        )

    def release_checkpoint(self, task_id: str, attempt: int, holder: str) -> bool:
        """Let the next slice continue the attempt; False when `holder` does not hold it."""
        return self.files.write(task_id, lambda conn: _checkpoints.release_checkpoint(conn, task_id, attempt, holder))

    def claim_checkpoint(self, task_id: str, attempt: int, round_: int, holder: str) -> Checkpoint | None:
        """The released checkpoint of `attempt` at `round_`, now held by `holder`; None when it is
        held, has moved on, or is gone (a second copy of a slice never continues an attempt)."""
        return self.files.write(
            task_id, lambda conn: _checkpoints.claim_checkpoint(conn, task_id, attempt, round_, holder)
        )

    def latest_checkpoint(self, task_id: str) -> Checkpoint | None:
        """The checkpoint furthest into the run, over every attempt; None when there is none."""
        return self.files.read(task_id, lambda conn: _checkpoints.latest_checkpoint(conn, task_id))

    def resume_attempt(self, task_id: str, source: int, attempt: int, count: int) -> None:
        """Start `attempt`'s transcript with the first `count` entries of `source`'s: a resumed
        run's transcript is whole."""
        self.files.write(task_id, lambda conn: _checkpoints.resume_attempt(conn, task_id, source, attempt, count))

    def discard_checkpoints(self, task_id: str) -> int:
        """Drop every checkpoint of the task (its run starts over); how many there were."""
        return self.files.write(task_id, lambda conn: _checkpoints.discard_checkpoints(conn, task_id))

    # ---- plan reviews ------------------------------------------------------------------------------

    def decide_review(
        self, task_id: str, decision: ReviewDecision, at: datetime, attempt: int | None
    ) -> ReviewDecision:
        """Record the decision on the plan under review unless one is (first writer wins); the one held."""
        return self.files.write(task_id, lambda conn: _reviews.decide_review(conn, task_id, decision, at, attempt))

    def review_decision(self, task_id: str, attempt: int | None = None) -> ReviewDecision | None:
        """The decision recorded for the plan of `attempt` (None: the latest attempt's), if any."""
        return self.files.read(task_id, lambda conn: _reviews.review_decision(conn, task_id, attempt))

    def checkpoint_bytes(self, task_id: str) -> int:
        """Size of the task's stored team states."""
        return self.files.read(task_id, lambda conn: _checkpoints.checkpoint_bytes(conn, task_id))

    # ---- a task's files -----------------------------------------------------------------------------

    def record_files(self, task_id: str, rows: list[FileRow], replace_outputs: bool = False) -> None:
        """Record the task's files (with `replace_outputs`, its outputs become exactly `rows`' outputs)."""
        self.files.write(
            task_id, lambda conn: _files.record_files(conn, task_id, rows, replace_outputs=replace_outputs)
        )

    def file_rows(self, task_id: str) -> list[FileRow]:
        """The task's recorded files, inputs first, each kind by name."""
        return self.files.read(task_id, lambda conn: _files.file_rows(conn, task_id))

    def save_finishing(self, task_id: str, attempt: int, outcome: RunOutcome, at: datetime) -> bool:
        """Keep the outcome of a run whose outputs wait for Blob Storage (the first one kept stays); True."""
        self.files.write(task_id, lambda conn: _files.save_finishing(conn, task_id, attempt, outcome, at))
        return True

    def finishing(self, task_id: str) -> tuple[int, RunOutcome] | None:
        """The attempt and outcome of a run waiting for its outputs to be stored; None when there is none."""
        return self.files.read(task_id, lambda conn: _files.finishing(conn, task_id))

    def drop_finishing(self, task_id: str) -> None:
        self.files.write(task_id, lambda conn: _files.drop_finishing(conn, task_id))

    # ---- a run's batches, and the file ---------------------------------------------------------------

    def write_batch(self, batch: Batch) -> int:
        """Store the batch in one transaction (entries already stored stay as they are); its entries."""
        self.files.write(batch.task_id, lambda conn: _batches.write_batch(conn, batch))
        return len(batch.messages)

    def integrity_check(self, task_id: str | None = None) -> str:
        """SQLite's check of the shared file, or of a task's own file."""
        if task_id is None:
            return self.db.read(_schema.integrity_check)
        return self.files.read(task_id, _schema.integrity_check)


@lru_cache(maxsize=16)
def _shared_store(path: str, locking: SqliteLocking, busy_timeout_ms: int) -> TaskStore:
    return TaskStore(path, locking=locking, busy_timeout_ms=busy_timeout_ms)
