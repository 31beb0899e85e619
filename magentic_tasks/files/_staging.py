"""Attachments into the task's workspace (`inputs/`) before the team starts, and the lines of the
task text that tell the team about them.

Staging is idempotent (every slice and every resumed attempt stages again): a file already in
place is kept, one that is missing comes from Blob Storage (stored when the task was created, or
fetched by an earlier attempt) or, for a URL never fetched yet, from its URL, and is stored in Blob
Storage at once, so the next attempt and `GET /tasks/{id}/files/...` find it.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..schemas import INPUTS_FOLDER, FileRef, TaskFile
from ..webhooks import CallbackPolicy
from ._blobs import BlobStore, FileMissing, FilesUnavailable, fetched_key
from ._content_types import content_type_for
from ._fetch import FetchFailed, fetch_to_file


@dataclass(frozen=True)
class FetchOptions:
    """How URLs are fetched: the policy, the size cap (FILES_MAX_BYTES) and the CA bundle."""

    policy: CallbackPolicy
    max_bytes: int
    ca_bundle: Path | None = None


@dataclass(frozen=True)
class StagedInput:
    """An attachment in place: as listed (`inputs/<name>`) and the blob that holds it."""

    file: TaskFile
    blob: str


async def stage_inputs(
    task_id: str, refs: Sequence[FileRef], workspace: Path, blobs: BlobStore, fetch: FetchOptions
) -> list[StagedInput]:
    """Put every attachment in `workspace/inputs/`; raises `FilesUnavailable` (Blob Storage) or
    `FetchFailed` (a URL), each saying which file without its content."""
    folder = workspace / INPUTS_FOLDER
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    staged = []
    for ref in refs:
        target = folder / ref.name
        key = ref.blob or fetched_key(task_id, ref.name)
        present = await asyncio.to_thread(_regular_file, target)
        if not present:
            try:
                await _bring(task_id, ref, key, target, blobs, fetch)
            except FetchFailed as failed:
                raise FetchFailed(f"the attachment {ref.name}: {failed}", retryable=failed.retryable) from None
        size, sha256 = await asyncio.to_thread(file_digest, target)
        if ref.sha256 is not None and sha256 != ref.sha256:
            await asyncio.to_thread(target.unlink, True)
            raise FilesUnavailable(f"the attachment {ref.name} does not match the hash it was stored with")
        await asyncio.to_thread(os.chmod, target, 0o444)  # the team reads its inputs; outputs go elsewhere
        staged.append(StagedInput(TaskFile(name=f"{INPUTS_FOLDER}/{ref.name}", size=size, sha256=sha256,
                                           content_type=ref.content_type), key))
    return staged


async def _bring(task_id: str, ref: FileRef, key: str, target: Path, blobs: BlobStore, fetch: FetchOptions) -> None:
    if ref.blob is None:  # a URL: fetched by an earlier attempt, or now (and stored at once)
        try:
            await download_to(blobs, key, target)
            return
        except FileMissing:
            pass
        assert ref.url is not None
        await fetch_to_file(ref.url, target, policy=fetch.policy, max_bytes=fetch.max_bytes,
                            ca_bundle=fetch.ca_bundle)
        try:
            await blobs.upload_file(key, target, content_type=ref.content_type)
        except BaseException:
            await asyncio.to_thread(target.unlink, True)  # in place only once stored: the next attempt fetches it again
            raise
        return
    try:
        await download_to(blobs, key, target)
    except FileMissing:
        raise FilesUnavailable(f"the attachment {ref.name} is missing from Blob Storage") from None


async def download_to(blobs: BlobStore, key: str, target: Path) -> None:
    """Write the blob to `target` (whole or not at all)."""
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as out:
            async for chunk in blobs.chunks(key):
                await asyncio.to_thread(out.write, chunk)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _regular_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def describe_inputs(prompt: str, staged: Sequence[StagedInput]) -> str:
    """The task text the team gets: the prompt, then one line per attachment (path, size, type)."""
    if not staged:
        return prompt
    lines = [
        f"- {item.file.name} ({item.file.size} bytes, {_kind(item.file.name)})" for item in staged
    ]
    return (
        f"{prompt}\n\nFiles attached to this task, in the task's workspace (the FileSurfer opens them by "
        f"these paths; code the ComputerTerminal runs starts in the workspace). Write any files you produce "
        f"to the workspace, outside {INPUTS_FOLDER}/: they are kept as the task's outputs.\n" + "\n".join(lines)
    )


def _kind(name: str) -> str:
    guessed = mimetypes.guess_type(name, strict=False)[0]
    return guessed or content_type_for(name)
