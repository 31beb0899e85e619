"""A task's files: `GET /tasks/{id}/files` (the list) and `GET /tasks/{id}/files/{name}` (the bytes).

Owner-scoped like every route: the task is found through `TaskReader.find` first. The list is the
attachments (from Durable state's input, or SQLite's rows once the run has staged them) and the
outputs (the outcome's, once the task is final; SQLite's rows of the outputs kept so far while it
runs or pauses). Only a name on that list is ever turned into a blob key, so no path the caller
writes reaches Blob Storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..files import FileMissing, output_key
from ..schemas import INPUTS_FOLDER, SkippedFile, TaskFile, TaskFilesView, TaskSnapshot
from ..store import FileRow, best_effort
from ._errors import FileNotFound, Unavailable
from ._reader import TaskReader


@dataclass(frozen=True)
class FileDownload:
    """A file's bytes and how to serve them."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class _Listed:
    file: TaskFile
    blob: str


async def list_files(reader: TaskReader, task_id: str, owner: str | None) -> TaskFilesView:
    found = await reader.find(task_id, owner, transcript=False)
    inputs, outputs, skipped = await _listed(reader, found)
    return TaskFilesView(task_id=found.task_id, inputs=[item.file for item in inputs],
                         outputs=[item.file for item in outputs], skipped=skipped)


async def download(reader: TaskReader, task_id: str, owner: str | None, name: str) -> FileDownload:
    found = await reader.find(task_id, owner, transcript=False)
    inputs, outputs, _ = await _listed(reader, found)
    match = next((item for item in (*inputs, *outputs) if item.file.name == name), None)
    if match is None:
        raise FileNotFound()
    async with reader.blobs() as blobs:
        try:
            data = await blobs.download(match.blob)
        except FileMissing:
            raise FileNotFound() from None
    return FileDownload(name=match.file.name, content_type=match.file.content_type, data=data)


async def _listed(reader: TaskReader, found: TaskSnapshot) -> tuple[list[_Listed], list[_Listed], list[SkippedFile]]:
    rows = await best_effort(reader.store.file_rows, found.task_id)
    outcome = found.outcome
    if rows is None and not (found.files or outcome):
        raise Unavailable("Task state is unavailable; try again later")
    rows = rows or []
    inputs = {row.name: _from_row(row) for row in rows if row.kind == "input" and row.sha256 is not None}
    for ref in found.files:  # known from Durable state: the inline ones are listed before the run begins
        name = f"{INPUTS_FOLDER}/{ref.name}"
        if name not in inputs and ref.size is not None and ref.sha256 is not None and ref.blob is not None:
            inputs[name] = _Listed(TaskFile(name=name, size=ref.size, sha256=ref.sha256,
                                            content_type=ref.content_type), ref.blob)
    if outcome is not None:
        outputs = [_Listed(file, output_key(found.task_id, file.name)) for file in outcome.files]
        skipped = list(outcome.files_skipped)
    else:
        outputs = [_from_row(row) for row in rows if row.kind == "output" and row.sha256 is not None]
        skipped = []
    return sorted(inputs.values(), key=lambda item: item.file.name), outputs, skipped


def _from_row(row: FileRow) -> _Listed:
    assert row.size is not None and row.sha256 is not None
    return _Listed(TaskFile(name=row.name, size=row.size, sha256=row.sha256, content_type=row.content_type), row.blob)


