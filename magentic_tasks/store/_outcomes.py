"""Recording a task's final outcome: its row in the shared file, its transcript in its own file.

The first outcome written wins (every writer gets it back), and a crash between the two files'
writes must leave nothing a read or the reconcile timer cannot repair:

1. the transcript goes to the task's file first, where it is not there yet (a result copied back
   from Durable state; a run whose last batches failed). A crash after it leaves a transcript
   without an outcome: the read path and the reconcile timer copy the outcome from Durable state,
   and find the run's own transcript (`streamed_attempt`) rather than storing a second copy;
2. the outcome row (`record_outcome`), which decides who won;
3. the task's file ends the run's attempt (and any paused at a released checkpoint) and drops its
   checkpoints, and gives the winner's transcript. The attempt ends only now, after the outcome:
   whoever waits for a stopped run (the announcement of a cancelled task, DELETE) never sees it
   ended before the run's own outcome (its tokens) is recorded. A crash before this step leaves
   checkpoints of a final task, which nothing resumes (a run checks for an outcome first), and an
   attempt that looks open until it is too old to be running (`TaskReader.streaming`). For a
   task that never ran (cancelled while pending) this step makes its file: a first attempt reads
   no shared file, so that file is what tells a run delivered later that the task has an outcome.

A run whose last batch stored its whole transcript (`streamed`) needs no copy of it in step 1.
"""

from __future__ import annotations

import sqlite3

from ..schemas import STOPPED, MessageView, RunOutcome, TaskInput
from ..text import storable
from . import _checkpoints, _lease, _tasks, _transcript
from ._connection import Database
from ._rows import read_messages
from ._task_files import TaskFiles


def save_outcome(
    db: Database, files: TaskFiles, task: TaskInput, outcome: RunOutcome, attempt: int | None, streamed: bool
) -> RunOutcome:
    """The outcome held after this write (this one or an earlier one), its transcript included."""
    number, task_id = attempt or 0, task.task_id
    keep = bool(outcome.messages) and not streamed
    if number == 0 and keep and outcome.stop_reason != STOPPED:  # copied from Durable state
        if db.read(lambda conn: _tasks.held_outcome(conn, task_id))[0] is not None:
            keep = False  # it loses: its copy of the transcript is not needed
        else:  # the run's own transcript, when that is the one streamed here
            messages = outcome.messages
            streamed_as = files.read(task_id, lambda conn: _transcript.streamed_attempt(conn, task_id, messages))
            number = streamed_as or 0
            keep = number == 0
    if keep:
        files.write(task_id, lambda conn: _transcript.keep_transcript(conn, task_id, number, outcome.messages),
                    task.created_at)
    held, final_attempt = db.write(lambda conn: _tasks.record_outcome(conn, task, outcome, number))
    ended, at, error = attempt or 0, outcome.finished_at, storable(outcome.error) if outcome.error else None

    def close(conn: sqlite3.Connection) -> list[MessageView]:  # step 3, one transaction
        _transcript.end_attempts(conn, task_id, ended, at, error)
        _checkpoints.discard_checkpoints(conn, task_id)
        _lease.end_lease(conn, task_id)
        return read_messages(conn, task_id, final_attempt)

    stored = files.write(task_id, close, task.created_at)
    held.messages = [_as_stored(m) for m in outcome.messages] if streamed and final_attempt == number else stored
    return held


def _as_stored(message: MessageView) -> MessageView:
    """The message as `insert_messages` stored it (a lone surrogate replaced)."""
    return MessageView(source=storable(message.source), content=storable(message.content), type=storable(message.type))
