"""The task being handled, as a context variable, and its id on every log record.

Each function that handles a task enters `task_scope(task_id)`; everything it runs (asyncio tasks
and `asyncio.to_thread` calls copy the context) then knows the task: the span processor stamps its
id on every span, the log record factory on every log record (`magentic.task_id`, which OpenTelemetry's
logging handler exports as an attribute: a custom dimension in Application Insights).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

TASK_ID_ATTRIBUTE = "magentic.task_id"

_task_id: ContextVar[str | None] = ContextVar("magentic_task_id", default=None)


def current_task_id() -> str | None:
    return _task_id.get()


@contextmanager
def task_scope(task_id: str) -> Iterator[None]:
    """Handle `task_id` for the duration of the block."""
    token = _task_id.set(task_id)
    try:
        yield
    finally:
        _task_id.reset(token)


def install_task_id_logging() -> None:
    """Stamp the current task's id on every log record, composed with the factory already installed
    (the redacting one of `install_log_redaction`, whose `redacting_filter` stays reachable so that
    installing redaction again still refreshes it rather than wrapping it twice). Idempotent."""
    inner = logging.getLogRecordFactory()
    if getattr(inner, "stamps_task_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = inner(*args, **kwargs)
        task_id = _task_id.get()
        if task_id is not None:
            record.__dict__[TASK_ID_ATTRIBUTE] = task_id
        return record

    redacting = getattr(inner, "redacting_filter", None)
    if redacting is not None:
        factory.redacting_filter = redacting  # type: ignore[attr-defined]
    factory.stamps_task_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
