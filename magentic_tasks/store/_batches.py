"""A run's writes, batched: one transaction for everything the run produced since its last batch.

A batch holds the transcript entries streamed since the last one, the attempt's progress and its
token usage; at a round boundary, that round's checkpoint too (so a checkpoint never names
messages that are not stored); and an attempt's last batch records its end. On a file share
every transaction pays network round trips, so a run writes a batch per round or per second, not
per message or per model call.

Batches may be committed out of the order they were made in (a run does not wait for one batch to
land before it hands over the next): a batch is stored only on top of a whole transcript (the
entries before it are stored), and usage and progress come from the highest-numbered batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import StoreError
from ..schemas import MessageView, TaskProgress, TokenUsage
from ._checkpoints import Checkpoint, upsert_checkpoint
from ._rows import end_attempt, insert_messages, message_rows, set_attempt_progress, set_attempt_usage


@dataclass(frozen=True)
class AttemptEnd:
    """The attempt ends with the batch (to be retried: an attempt that ends the task ends with its
    outcome, `TaskStore.save_outcome`): when, and the error it failed with."""

    at: datetime
    error: str | None = None


@dataclass(frozen=True)
class Batch:
    """Entries `first_seq`, `first_seq + 1`, ... of an attempt's transcript and where the attempt stands."""

    task_id: str
    attempt: int
    first_seq: int
    messages: Sequence[MessageView]
    progress: TaskProgress | None
    usage: dict[str, TokenUsage]  # the attempt's own tokens so far
    checkpoint: Checkpoint | None = None
    end: AttemptEnd | None = None
    number: int | None = None  # how far the attempt had got (`progress_mark`); None: applies as it comes


def write_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    """Entries already stored stay as they are; the attempt's usage goes with its end when it ends.
    A `StoreError` (the batch goes with the next) when entries before it are not stored yet."""
    task_id, attempt = batch.task_id, batch.attempt
    if batch.messages:
        (stored,) = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE task_id = ? AND attempt = ?", (task_id, attempt)
        ).fetchone()
        if stored < batch.first_seq:
            raise StoreError(f"batch at entry {batch.first_seq} of {task_id}/{attempt}: only {stored} stored before it")
    insert_messages(conn, message_rows(task_id, attempt, batch.first_seq, batch.messages))
    latest = _latest(conn, task_id, attempt, batch.number)
    if batch.progress is not None and latest:
        set_attempt_progress(conn, task_id, attempt, batch.progress)
    if batch.checkpoint is not None:
        upsert_checkpoint(conn, batch.checkpoint)
    if batch.end is not None:
        end_attempt(conn, task_id, attempt, batch.end.at, batch.usage, batch.end.error)
    elif latest:
        set_attempt_usage(conn, task_id, attempt, batch.usage)


def progress_mark(entries: int, tokens: int) -> int:
    """A batch's place in its attempt: transcript entries up to its end, then tokens used. Both only
    grow, in every slice of the attempt, so a batch made later never has a lower mark."""
    return (entries << 40) + min(tokens, (1 << 40) - 1)


def _latest(conn: sqlite3.Connection, task_id: str, attempt: int, number: int | None) -> bool:
    """Whether this batch is as far into the attempt as any stored (its usage and progress are the newest)."""
    if number is None:
        return True
    cursor = conn.execute(
        "UPDATE attempts SET batch = ? WHERE task_id = ? AND attempt = ? AND (batch IS NULL OR batch <= ?)",
        (number, task_id, attempt, number),
    )
    return cursor.rowcount == 1
