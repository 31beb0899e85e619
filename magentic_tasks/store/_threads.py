"""Store calls off the event loop, on the mirror's own threads.

Every file call on a share waits a network round trip, so a transaction holds its thread for tens
or hundreds of milliseconds, and a worker running 32 tasks has dozens of them under way. The event
loop's default executor has a few threads per core (6 on two cores), which the team's own blocking
work (building teams, converting files) needs too: the mirror's calls wait on threads of their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from ..errors import StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Threads only wait on file calls (the GIL is free meanwhile); each costs its stack's pages in use.
MIRROR_THREADS = 64
_threads = ThreadPoolExecutor(max_workers=MIRROR_THREADS, thread_name_prefix="task-mirror")


async def in_thread(operation: Callable[..., T], *args: Any) -> T:
    """`operation(*args)` on a mirror thread, in a copy of this context (the task id on log records)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_threads, partial(context.run, operation, *args))


async def best_effort(operation: Callable[..., T], *args: Any) -> T | None:
    """Run a store operation off the event loop. The mirror never stops a task: a store failure
    (after the store's own retries) is logged and comes back as None."""
    try:
        return await in_thread(operation, *args)
    except StoreError as error:
        logger.warning("task mirror unavailable (%s): %s", getattr(operation, "__name__", operation), error)
        return None
