"""Files in and out: what a caller attaches, the references the orchestration carries (never the
bytes: Durable inputs and queue messages have size limits), and the files a task keeps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Where attachments are in the task's workspace; every other file there is an output.
INPUTS_FOLDER = "inputs"
FileKind = Literal["input", "output"]


class FileUpload(BaseModel):
    """One attachment of `POST /tasks` (and queue messages): its name and either its bytes in base64
    (`content`) or an https `url` the run fetches."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=1024)
    content: str | None = None  # base64 (standard alphabet, padded)
    url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _content_or_url(self) -> FileUpload:
        if (self.content is None) == (self.url is None):
            raise ValueError("a file has either content (base64) or a url, not both")
        return self


class FileRef(BaseModel):
    """An attachment as the orchestration carries it: where its bytes are (`blob`, stored when the
    task was created) or where to fetch them (`url`, by the run); `size` and `sha256` once known."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str  # a safe file name (magentic_tasks.files.safe_name), unique within the task's inputs
    content_type: str
    size: int | None = None
    sha256: str | None = None
    blob: str | None = None
    url: str | None = None


class TaskFile(BaseModel):
    """A file a task keeps: `name` is its path in the task's workspace (`inputs/...` for attachments)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str
    size: int
    sha256: str
    content_type: str


class SkippedFile(BaseModel):
    """A file of the workspace that was not kept, and why (a limit, an unsafe name, a symlink...)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: str
    reason: str


class TaskFilesView(BaseModel):
    """`GET /tasks/{id}/files`: the task's attachments, its outputs so far, and what was not kept."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    inputs: list[TaskFile]
    outputs: list[TaskFile]
    skipped: list[SkippedFile]
