"""The SQLite mirror of every task: lifecycle, streamed transcript, attempts and results.

Every write is idempotent and keyed by task id (and attempt), so a re-delivered activity cannot
duplicate rows. Calls block; async code runs them with `asyncio.to_thread` (`best_effort`).

Three layers, no class hierarchy:

- `Database` (`_connection`) owns the file: connections, `BEGIN IMMEDIATE` transactions, bounded
  retries, dot-file locks and the schema check (`_schema`: tables, migrations). `read(fn)` and
  `write(fn)` run `fn(connection)` in one transaction.
- The SQL is plain functions over a connection, a module per idea: `_tasks` (task rows and
  outcomes), `_transcript` (attempts and the message stream), `_listing` (pages and retention),
  `_checkpoints` (round checkpoints), `_batches` (a run's writes, one transaction per batch) and
  `_rows` (statements several of them share).
- `TaskStore` (`_mirror`) holds a `Database`; each of its methods runs one function in one
  transaction. `best_effort` runs a method off the event loop and turns a store failure into None.
"""

from ._batches import AttemptEnd, Batch, progress_mark
from ._checkpoints import Checkpoint
from ._connection import Database
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
    "PageKey",
    "TaskStore",
    "best_effort",
    "in_thread",
    "page_key",
    "parse_timestamp",
    "progress_mark",
]
