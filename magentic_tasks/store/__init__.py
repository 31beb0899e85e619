"""The SQLite mirror of every task: lifecycle, streamed transcript, attempts and results.

Every write is idempotent and keyed by task id (and attempt), so a re-delivered activity cannot
duplicate rows. Calls block; async code runs them with `asyncio.to_thread` (`best_effort`).

Modules, one idea each: `_connection` (connections, transactions, retries, locks), `_schema`
(tables and migrations), `_rows` (statements shared by the others), `_tasks` (task rows and
outcomes), `_transcript` (attempts and messages), `_checkpoints` (round checkpoints), `_reviews`
(the decision on a plan under review), `_batches` (a run's writes, one transaction per batch),
`_mirror` (the store and its best-effort use).
"""

from ._batches import AttemptEnd, Batch
from ._checkpoints import Checkpoint
from ._listing import PageKey, page_key
from ._mirror import TaskStore, best_effort
from ._schema import SCHEMA_VERSION
from ._tasks import parse_timestamp

__all__ = [
    "SCHEMA_VERSION", "AttemptEnd", "Batch", "Checkpoint", "PageKey", "TaskStore", "best_effort", "page_key",
    "parse_timestamp",
]
