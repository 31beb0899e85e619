"""What a run produces and how a store knows a task: transcript entries, token usage, the outcome,
the task snapshot."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ._files import FileRef, SkippedFile, TaskFile
from ._team import TeamOptions
from ._types import OutcomeStatus, TaskStatus, UtcDatetime

# The longest error text a task result carries.
MAX_ERROR_CHARS = 2000
# stop_reason of a run ended by its stop signal (a cancel request or a Durable terminate).
STOPPED = "cancelled"
# The terminate reason `POST /tasks/{id}/cancel` gives; it becomes the cancelled task's `error`.
CANCEL_REASON = "cancelled through POST /tasks/{task_id}/cancel"
IMAGE_TYPE = "base64_image"  # a transcript entry that is an image: its bytes, base64 (SQLite keeps them)
IMAGE_REF_TYPE = "image_ref"  # the same image as Durable state keeps it: its SHA-256 and size


class MessageView(BaseModel):
    """One transcript entry, in the original's shape."""

    model_config = ConfigDict(defer_build=True)

    source: str
    content: str
    type: str


class TokenUsage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class RunOutcome(BaseModel):
    """What a finished task produced: the orchestration's output and the mirror's final row."""

    model_config = ConfigDict(defer_build=True)

    status: OutcomeStatus
    messages: list[MessageView] = []
    final_answer: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    execution_time: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_by_agent: dict[str, TokenUsage] = {}
    attempts: int = 1
    finished_at: UtcDatetime
    team: TeamOptions | None = None  # the team that ran (None: a task from before per-task options)
    files: list[TaskFile] = []  # what the run left in its workspace outside inputs/, kept in Blob Storage
    files_skipped: list[SkippedFile] = []  # what it left and was not kept (limits, names, links)


class TaskSnapshot(BaseModel):
    """A task as one of the two stores knows it."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    prompt: str
    use_aoai: bool
    model_name: str
    owner: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    outcome: RunOutcome | None = None
    has_callback: bool = False  # known from Durable state only
    plan: str | None = None  # while awaiting_input: the plan to review (Durable state only)
    team: TeamOptions | None = None  # from Durable state's input, else the outcome's
    request_fingerprint: str | None = None  # the creating request's (Durable state only)
    files: tuple[FileRef, ...] = ()  # the attachments (known from Durable state's input only)
