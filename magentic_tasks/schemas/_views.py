"""What the HTTP API answers: a created task, its status, its result, a page of tasks or messages,
and the answers to input and cancel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ._files import SkippedFile, TaskFile
from ._outcomes import MessageView, TokenUsage
from ._progress import CallbackState, TaskProgress
from ._team import TeamOptions
from ._types import OutcomeStatus, TaskStatus, UtcDatetime


class TaskCreated(BaseModel):
    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    created_at: UtcDatetime


class TaskStatusView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    prompt: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    progress: TaskProgress | None = None
    callback: CallbackState | None = None
    plan: str | None = None  # while awaiting_input: the plan POST /tasks/{id}/input approves, revises or rejects
    team: TeamOptions | None = None  # the agents and limits the task runs with (null: an older task)


class TaskResultInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: OutcomeStatus
    stop_reason: str | None
    final_answer: str | None
    error: str | None = None


class TaskResultBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    messages: list[MessageView]
    task_result: TaskResultInfo
    execution_time: float
    usage_by_agent: dict[str, TokenUsage]
    attempts: int
    files: list[TaskFile] = []  # the outputs kept (GET /tasks/{id}/files/{name} downloads one)
    files_skipped: list[SkippedFile] = []  # outputs not kept, and why


class TaskResultView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    result: TaskResultBody
    prompt_tokens: int
    completion_tokens: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    error: str | None = None


class TaskNotFinishedView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    detail: str


# ---- listing tasks ----------------------------------------------------------------------------


class TaskSummary(BaseModel):
    """One task in `GET /tasks`: what it is and where it stands, without its prompt or transcript."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    model_name: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TaskList(BaseModel):
    """A page of the caller's tasks, newest first; `next_cursor` asks for the next page (null: no more)."""

    model_config = ConfigDict(defer_build=True)

    tasks: list[TaskSummary]
    next_cursor: str | None


# ---- following and steering a task --------------------------------------------------------------


class TaskMessagesView(BaseModel):
    """A page of `GET /tasks/{id}/messages`: messages `after`, `after + 1`, ... of the task's stream.

    The stream numbers every message any attempt streamed, in the order they were stored, from 0; a
    page holds messages of one `attempt` only (a retried attempt starts its transcript over, so a
    client drops what it holds of an earlier attempt when `attempt` changes). `next_after` is where
    the next page starts; `finished` is true once the task is final and its stream has ended."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    attempt: int | None
    messages: list[MessageView]
    next_after: int
    finished: bool


class TaskInputAccepted(BaseModel):
    """The answer to `POST /tasks/{id}/input`: the task's status after the input and what follows."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    detail: str


class TaskCancelled(BaseModel):
    """The answer to `POST /tasks/{id}/cancel`: the task's status after the request."""

    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    detail: str
