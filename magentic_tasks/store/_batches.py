"""A run's writes, batched: one transaction for everything the run produced since its last batch.

A batch holds the transcript entries streamed since the last one, the attempt's progress and its
token usage; at a round boundary, that round's checkpoint too (so a checkpoint never names
messages that are not stored); and an attempt's last batch records its end. On a file share
every transaction pays network round trips and holds the one lock every instance shares, so a
run writes a batch per round or per second, not per message or per model call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..schemas import MessageView, TaskProgress, TokenUsage
from ._checkpoints import Checkpoint, drop_checkpoints, upsert_checkpoint
from ._rows import end_attempt, insert_messages, message_rows, set_attempt_progress, set_attempt_usage


@dataclass(frozen=True)
class AttemptEnd:
    """The attempt ends with the batch: when, the error it failed with (None if it did not), and
    whether it ends the task (`final`: the task's checkpoints go, it is never resumed)."""

    at: datetime
    error: str | None = None
    final: bool = False


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


def write_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    """Entries already stored stay as they are; the attempt's usage goes with its end when it ends."""
    insert_messages(conn, message_rows(batch.task_id, batch.attempt, batch.first_seq, batch.messages))
    if batch.progress is not None:
        set_attempt_progress(conn, batch.task_id, batch.attempt, batch.progress)
    if batch.checkpoint is not None:
        upsert_checkpoint(conn, batch.checkpoint)
    if batch.end is not None:
        end_attempt(conn, batch.task_id, batch.attempt, batch.end.at, batch.usage, batch.end.error)
        if batch.end.final:
            drop_checkpoints(conn, batch.task_id)
    else:
        set_attempt_usage(conn, batch.task_id, batch.attempt, batch.usage)
