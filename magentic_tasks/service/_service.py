"""`TaskService`: the task API's behaviour in one object, each use a small function over one reader."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import utc_now
from ..files import BlobStore
from ..schemas import (
    TaskFilesView,
    TaskInputAccepted,
    TaskList,
    TaskMessagesView,
    TaskNotFinishedView,
    TaskResultView,
    TaskStatusView,
)
from ..settings import Settings
from ..store import TaskStore
from . import (
    _announcing,
    _cancelling,
    _creating,
    _files,
    _listing,
    _messages,
    _reading,
    _reconciling,
    _removing,
    _reviewing,
)
from ._announcing import Announcement
from ._cancelling import Cancellation
from ._creating import Created
from ._files import FileDownload
from ._orchestrations import Orchestrations
from ._parsing import max_body_bytes
from ._reader import TaskReader
from ._removing import RetentionReport


class TaskService:
    """Creates tasks and answers for them, reading Durable state first and SQLite second.

    Every method returns a domain result or raises a `ServiceError`; starters/ maps both to HTTP."""

    def __init__(
        self,
        settings: Settings,
        orchestrations: Orchestrations,
        store: TaskStore | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        blob_store: Callable[[], BlobStore] | None = None,
    ) -> None:
        self.reader = TaskReader(settings, orchestrations, store or TaskStore.from_settings(settings), clock,
                                 blob_store)
        self.new_id = new_id

    @property
    def settings(self) -> Settings:
        return self.reader.settings

    @property
    def store(self) -> TaskStore:
        return self.reader.store

    @property
    def max_body_bytes(self) -> int:
        return max_body_bytes(self.settings)

    async def create(
        self, body: bytes, owner: str | None, idempotency_key: str | None = None, trace_parent: str | None = None
    ) -> Created:
        return await _creating.create(self.reader, self.new_id, body, owner, idempotency_key, trace_parent)

    async def submit_queued(self, body: bytes, *, source: str = "queue", message_key: str | None = None) -> str | None:
        return await _creating.submit_queued(self.reader, self.new_id, body, source=source, message_key=message_key)

    async def status(self, task_id: str, owner: str | None) -> TaskStatusView:
        return await _reading.status(self.reader, task_id, owner)

    async def result(self, task_id: str, owner: str | None) -> TaskResultView | TaskNotFinishedView:
        return await _reading.result(self.reader, task_id, owner)

    async def list_tasks(self, query: dict[str, str], owner: str | None) -> TaskList:
        return await _listing.list_tasks(self.reader, query, owner)

    async def messages(self, task_id: str, owner: str | None, params: dict[str, Any]) -> TaskMessagesView:
        return await _messages.messages(self.reader, task_id, owner, params)

    async def cancel(self, task_id: str, owner: str | None) -> Cancellation:
        return await _cancelling.cancel(self.reader, task_id, owner)

    async def submit_input(self, task_id: str, owner: str | None, body: bytes) -> TaskInputAccepted:
        return await _reviewing.submit_input(self.reader, task_id, owner, body)

    async def announcement(self, task_id: str) -> Announcement:
        return await _announcing.announcement(self.reader, task_id)

    async def files(self, task_id: str, owner: str | None) -> TaskFilesView:
        return await _files.list_files(self.reader, task_id, owner)

    async def download(self, task_id: str, owner: str | None, name: str) -> FileDownload:
        return await _files.download(self.reader, task_id, owner, name)

    async def delete(self, task_id: str, owner: str | None) -> None:
        await _removing.delete(self.reader, task_id, owner)

    async def apply_retention(self) -> RetentionReport:
        return await _removing.apply_retention(self.reader)

    async def reconcile(self, task_ids: list[str]) -> int:
        return await _reconciling.reconcile(self.reader, task_ids)

    async def mirror_recent(self) -> int:
        return await _reconciling.mirror_recent(self.reader)
