"""`TaskStore`, the whole mirror, and `best_effort`: how the service and activities use it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from ..settings import Settings, SqliteLocking
from ._batches import BatchRows
from ._checkpoints import CheckpointRows
from ._listing import TaskListing
from ._reviews import ReviewRows
from ._tasks import TaskRows
from ._transcript import TranscriptRows

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TaskStore(TaskRows, TranscriptRows, TaskListing, CheckpointRows, BatchRows, ReviewRows):
    """One SQLite file; a short-lived connection per operation, safe from any thread or process."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskStore:
        """The process's store for these settings: one per file, so the schema is checked once."""
        return _shared_store(
            str(Path(settings.tasks_db_path).expanduser().resolve()),
            settings.sqlite_locking,
            settings.sqlite_busy_timeout_ms,
        )


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
