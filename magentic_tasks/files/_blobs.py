"""What the service and the run need from Blob Storage (`BlobStore`), and where a task's files go.

Every task has one prefix, `<task id>/`: attachments stored when the task was created under
`<task id>/inputs/<upload id>/<name>` (one upload id per request, so a request that loses a race
deletes only its own blobs), attachments fetched by the run under `<task id>/inputs/url/<name>`,
and outputs under `<task id>/outputs/<path>`. Deleting the prefix deletes the task's files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol


class FilesUnavailable(Exception):
    """Blob Storage could not be reached or refused the call; the message names no secret."""


class FileMissing(FilesUnavailable):
    """No blob under that key."""


class BlobStore(Protocol):
    async def upload(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key` (replacing what is there)."""
        ...

    async def upload_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Store the file at `path` under `key`, read as it is sent."""
        ...

    async def download(self, key: str) -> bytes:
        """The blob's bytes; `FileMissing` when there is none."""
        ...

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes, a chunk at a time; `FileMissing` when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob (nothing to do when it is missing)."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose name starts with `prefix`; how many."""
        ...

    async def close(self) -> None: ...


def task_prefix(task_id: str) -> str:
    return f"{task_id}/"


def inline_key(task_id: str, upload_id: str, name: str) -> str:
    return f"{task_id}/inputs/{upload_id}/{name}"


def fetched_key(task_id: str, name: str) -> str:
    return f"{task_id}/inputs/url/{name}"


def output_key(task_id: str, path: str) -> str:
    return f"{task_id}/outputs/{path}"
