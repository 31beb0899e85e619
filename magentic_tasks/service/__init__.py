"""The task API's behaviour, independent of Azure: validation, starting tasks, reading them back.

`TaskService` is the one entry point; the HTTP, queue and timer functions in starters/ call it and
map what it returns (a domain result) or raises (a `ServiceError`) to their own protocol. Inside,
one `TaskReader` finds every task (Durable state first, SQLite second, settled, the mirror
repaired), and each use is a small module of plain functions over it: `_creating` (create and
submit), `_reading` (status, result), `_listing` (`GET /tasks`), `_cancelling`, `_announcing` (the
outcome a terminated task's announcement publishes), `_reviewing` (plan review input), `_messages`
(the message stream), `_files` (a task's files: the list, a download), `_removing` (delete,
retention), `_reconciling` (the mirror catching up). `_parsing` reads request bodies; `_owners` says
who sees a task; `_errors` holds every error.
"""

from ._announcing import Announcement
from ._cancelling import Cancellation
from ._creating import Created, task_id_for_message
from ._errors import (
    NOT_FOUND,
    RETRY_AFTER_SECONDS,
    Conflict,
    FileNotFound,
    FilesStoreUnavailable,
    InvalidRequest,
    RequestTooLarge,
    ServiceError,
    TaskNotFound,
    Unavailable,
)
from ._files import FileDownload
from ._listing import DEFAULT_LIMIT, MAX_LIMIT, STATUSES, decode_cursor, encode_cursor
from ._messages import MAX_LIMIT as MESSAGES_MAX_LIMIT
from ._messages import MAX_WAIT_SECONDS
from ._orchestrations import Ending, Orchestrations
from ._parsing import max_body_bytes, parse_json_object, validate_create
from ._reader import TaskReader, settle
from ._removing import RetentionReport
from ._service import TaskService

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WAIT_SECONDS",
    "MESSAGES_MAX_LIMIT",
    "NOT_FOUND",
    "RETRY_AFTER_SECONDS",
    "STATUSES",
    "Announcement",
    "Cancellation",
    "Conflict",
    "Created",
    "Ending",
    "FileDownload",
    "FileNotFound",
    "FilesStoreUnavailable",
    "InvalidRequest",
    "Orchestrations",
    "RequestTooLarge",
    "RetentionReport",
    "ServiceError",
    "TaskNotFound",
    "TaskReader",
    "TaskService",
    "Unavailable",
    "decode_cursor",
    "encode_cursor",
    "max_body_bytes",
    "parse_json_object",
    "settle",
    "task_id_for_message",
    "validate_create",
]
