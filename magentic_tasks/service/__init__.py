"""The task API's behaviour, independent of Azure: validation, starting tasks, reading them back.

The HTTP and queue functions are thin adapters around `TaskService`. Durable state is read first;
SQLite is the fallback for tasks whose history was purged (and for when Durable cannot be reached),
and it is repaired from Durable state when it lags behind.

The public names live in small private modules, one use each: `_responses` (what is answered),
`_parsing` (request bodies), `_creating` (create and submit), `_reading` (status, result, repair),
`_listing` (`GET /tasks`), `_removing` (delete and retention), `_steering` (cancel), `_following`
(`GET /tasks/{id}/messages`), `_reviewing` (`POST /tasks/{id}/input`: plan review).
"""

from ._creating import Creating, task_id_for_message
from ._following import Following
from ._listing import Listing
from ._parsing import max_body_bytes, parse_json_object, validate_create
from ._reading import Reading
from ._removing import Removing, RetentionReport
from ._responses import (
    NOT_FOUND,
    RETRY_AFTER_SECONDS,
    ApiResponse,
    InvalidRequest,
    config_error_response,
)
from ._reviewing import Reviewing
from ._state import Orchestrations
from ._steering import Steering


class TaskService(Creating, Removing, Listing, Steering, Following, Reviewing):
    """Creates tasks and answers for them, reading Durable state first and SQLite second."""


__all__ = [
    "NOT_FOUND",
    "RETRY_AFTER_SECONDS",
    "ApiResponse",
    "InvalidRequest",
    "Orchestrations",
    "Reading",
    "RetentionReport",
    "TaskService",
    "config_error_response",
    "max_body_bytes",
    "parse_json_object",
    "task_id_for_message",
    "validate_create",
]
