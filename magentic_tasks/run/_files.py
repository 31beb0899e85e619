"""A run's files: attachments staged before the team starts, outputs kept when it stops.

`prepare` stages the attachments into the workspace's `inputs/` (every slice and every resumed
attempt: idempotent), puts back the outputs an earlier slice or attempt kept when the workspace is
not there (another instance), and gives the task text that lists the attachments. `keep` collects
what the team wrote outside `inputs/`, stores it in Blob Storage and records it in SQLite (the
outputs become exactly these; blobs of outputs gone since are deleted); `sync` does the same at a
pause or before a retry, where a failure only costs the next attempt those files.

Blob Storage is opened only when there is something to stage, restore or keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ..files import (
    BlobStore,
    Collected,
    ConnectionMissing,
    FetchFailed,
    FetchOptions,
    FilesUnavailable,
    collect_outputs,
    describe_inputs,
    download_to,
    open_blob_store,
    output_key,
    stage_inputs,
    url_policy,
)
from ..redaction import Redactor
from ..schemas import SkippedFile, TaskFile, TaskInput
from ..settings import Settings
from ..store import FileRow, TaskStore, best_effort, in_thread

logger = logging.getLogger(__name__)

NO_CONNECTION = "not kept: this server has no Blob Storage connection for task files (TASK_FILES_CONNECTION)"
WORKSPACE_LOST = "the run's workspace was gone when its outputs were to be kept (a retry on another instance)"


class FilesRefused(Exception):
    """The attachments cannot be staged, and trying again will not change that (a URL refused or
    over the cap, no Blob Storage connection); the message names the file, never its content."""


def terminal_home(workspace: Path) -> Path:
    """Where the code executor keeps its wrappers and HOME: beside the workspace, so they are not outputs."""
    return workspace.with_name(f".{workspace.name}.terminal")


def remove_workspace(workspace: Path) -> None:
    shutil.rmtree(workspace, ignore_errors=True)
    shutil.rmtree(terminal_home(workspace), ignore_errors=True)


class RunFiles:
    def __init__(
        self, task: TaskInput, settings: Settings, store: TaskStore, workspace: Path,
        blob_store: Callable[[], BlobStore] | None = None, *, new_file: bool = False,
    ) -> None:
        self.task, self.settings, self.store, self.workspace = task, settings, store, workspace
        # The attempt made the task's file: it holds no file rows but those this run records (on a
        # share each read of them is round trips at the start and at the end of the run).
        self._no_outputs_yet = new_file
        self._no_rows_yet = new_file
        self.redact = Redactor(settings.secrets())
        self._open = blob_store or (lambda: open_blob_store(settings.task_files_connection,
                                                            settings.task_files_container))

    @contextlib.asynccontextmanager
    async def _blobs(self) -> AsyncIterator[BlobStore]:
        store = self._open()
        try:
            yield store
        finally:
            await store.close()

    async def prepare(self) -> str:
        """The task text (the prompt and its attachments); raises `FilesRefused`, or `FilesUnavailable`
        / `FetchFailed` (retryable) for a failure worth another attempt."""
        task = self.task
        rows = [] if self._no_rows_yet else await best_effort(self.store.file_rows, task.task_id) or []
        missing = [row for row in rows if row.kind == "output" and not (self.workspace / row.name).exists()]
        if not task.files and not missing:
            return task.prompt
        settings = self.settings
        fetch = FetchOptions(url_policy(settings.files_url_allowed_hosts, settings.files_url_allow_private_networks),
                             settings.files_max_bytes, settings.files_url_ca_bundle)
        try:
            async with self._blobs() as blobs:
                staged = await stage_inputs(task.task_id, task.files, self.workspace, blobs, fetch)
                for row in missing:  # the outputs so far, kept by an earlier slice or attempt
                    target = self.workspace / row.name
                    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
                    await download_to(blobs, row.blob, target)
        except (ConnectionMissing, ValueError) as error:
            raise FilesRefused(f"the task's files cannot be reached: {error}") from None
        except FetchFailed as failed:
            if failed.retryable:
                raise
            raise FilesRefused(str(failed)) from None
        inputs = [FileRow("input", item.file.name, item.file.size, item.file.sha256, item.file.content_type,
                          item.blob) for item in staged]
        if inputs:
            await best_effort(self.store.record_files, task.task_id, inputs)
        return describe_inputs(task.prompt, staged)

    async def keep(self, *, after_retry: bool = False) -> tuple[list[TaskFile], list[SkippedFile]]:
        """Store and record the workspace's outputs; raises `FilesUnavailable` when Blob Storage fails.
        Without a workspace, the outputs kept so far (`after_retry`: with a note that the rest is lost)."""
        settings, task_id = self.settings, self.task.task_id
        rows = [] if self._no_outputs_yet else await best_effort(self.store.file_rows, task_id) or []
        before = {row.name: row for row in rows if row.kind == "output"}
        if not await asyncio.to_thread(self.workspace.is_dir):
            kept = [TaskFile(name=r.name, size=r.size or 0, sha256=r.sha256 or "", content_type=r.content_type)
                    for r in before.values() if r.sha256 is not None]
            return kept, [SkippedFile(name="...", reason=WORKSPACE_LOST)] if after_retry else []
        collected: Collected = await asyncio.to_thread(
            collect_outputs, self.workspace, max_files=settings.artifact_max_files,
            max_bytes=settings.artifact_max_bytes,
        )
        if not collected.files and not before:
            return [], collected.skipped_listed
        try:
            async with self._blobs() as blobs:
                for file, path in collected.files:
                    await blobs.upload_file(output_key(task_id, file.name), path, content_type=file.content_type)
                now = {file.name for file, _ in collected.files}
                rows_now = [FileRow("output", f.name, f.size, f.sha256, f.content_type, output_key(task_id, f.name))
                            for f, _ in collected.files]
                self._no_outputs_yet = False
                await in_thread(self.store.record_files, task_id, rows_now, True)
                for name, row in before.items():
                    if name not in now:
                        await blobs.delete(row.blob)
        except (ConnectionMissing, ValueError) as error:
            logger.error("task %s: outputs not kept: %s", task_id, self.redact(str(error)))
            skipped = [SkippedFile(name=file.name, reason=NO_CONNECTION) for file, _ in collected.files]
            return [], [*skipped, *collected.skipped_listed]
        except FilesUnavailable:
            raise
        except Exception as error:  # SQLite could not record them: as unavailable (the retry stores them again)
            raise FilesUnavailable(f"the outputs could not be recorded: {type(error).__name__}") from None
        return [file for file, _ in collected.files], collected.skipped_listed

    async def sync(self) -> None:
        """`keep`, for a run that goes on (a pause, a retry): a failure is logged, never raised."""
        try:
            await self.keep()
        except Exception as error:
            logger.warning("task %s: outputs so far not kept: %s", self.task.task_id, self.redact(str(error)))
