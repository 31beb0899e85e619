"""The SQLite mirror of every task: lifecycle, streamed transcript, attempts and results.

Every write is idempotent and keyed by task id (and attempt), so a re-delivered activity cannot
duplicate rows. Calls block; async code runs them on the mirror's own threads (`in_thread`,
`best_effort`).

Two kinds of file: the shared one (`TASKS_DB_PATH`: a row per task, its outcome; listing and
retention) and one per task beside it (`_task_files`: attempts, the message stream, progress,
usage, checkpoints, plan reviews, the task's files' rows), so a run's writes take no lock another task
takes. Layers, no class hierarchy:

- `Database` (`_connection`) owns one file: its connection, transactions grouped per process
  (`_group`, `_transaction`), bounded retries, dot-file locks and, for the shared file, the schema
  check (`_schema`: tables, migrations). `read(fn)` and `write(fn)` run `fn(connection)` in one
  transaction.
- The SQL is plain functions over a connection, a module per idea: `_tasks` (task rows and
  outcomes), `_transcript` (attempts and the message stream), `_listing` (pages and retention),
  `_checkpoints` (round checkpoints), `_reviews` (the decision on a plan under review), `_files` (a
  task's files, a run waiting for Blob Storage), `_batches` (a run's writes, one transaction per
  batch), `_outcomes` (saving an outcome across the two files) and `_rows` (statements several share).
- `TaskStore` (`_mirror`) holds the shared `Database` and the `TaskFiles`; each of its methods runs
  one function in one transaction of the right file.
"""

from ._batches import AttemptEnd, Batch, progress_mark
from ._checkpoints import Checkpoint
from ._connection import Database
from ._files import FileRow
from ._listing import PageKey, page_key
from ._mirror import TaskStore
from ._schema import SCHEMA_VERSION
from ._tasks import parse_timestamp
from ._threads import best_effort, in_thread

__all__ = [
    "SCHEMA_VERSION",
    "AttemptEnd",
    "Batch",
    "Checkpoint",
    "Database",
    "FileRow",
    "PageKey",
    "TaskStore",
    "best_effort",
    "in_thread",
    "page_key",
    "parse_timestamp",
    "progress_mark",
]
