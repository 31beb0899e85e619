"""Why the service could not do what was asked: one exception per kind, mapped to HTTP by starters/.

Each carries a `detail` fit to show the caller: FastAPI's list of errors for an invalid request, a
sentence otherwise. None repeats what the caller sent.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

NOT_FOUND = "Task not found"
# How long a client is asked to wait before it tries again (also for a task not finished yet).
RETRY_AFTER_SECONDS = 10


class ServiceError(Exception):
    """The request was not carried out; `detail` says why."""

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else json.dumps(detail))
        self.detail = detail


class InvalidRequest(ServiceError):
    """A request that fails validation; `detail` is FastAPI's list of errors."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail: list[dict[str, Any]] = detail


class RequestTooLarge(InvalidRequest):
    """A request body over the size this server reads."""


class TaskNotFound(ServiceError):
    """No such task, or not the caller's: the two are told apart to no one."""

    def __init__(self) -> None:
        super().__init__(NOT_FOUND)


class Conflict(ServiceError):
    """The task is not in a state that allows this; `retry_after_seconds` when that will pass soon."""

    def __init__(self, detail: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(ServiceError):
    """A store (Durable state, the SQLite mirror) could not be reached; try again later."""


class FilesStoreUnavailable(Unavailable):
    """Blob Storage (the task files) could not be reached or is not configured; try again later."""


class FileNotFound(ServiceError):
    """The task has no file of that name (or the task is not the caller's)."""

    def __init__(self) -> None:
        super().__init__("File not found")


def error_entry(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    """One entry of a FastAPI-shaped `detail` list."""
    return {"type": kind, "loc": list(loc), "msg": msg}


def validation_detail(error: ValidationError, prefix: str) -> list[dict[str, Any]]:
    """Pydantic's errors in FastAPI's shape, without echoing the input back."""
    return [
        error_entry((prefix, *item["loc"]), item["msg"], item["type"])
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
