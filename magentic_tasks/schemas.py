"""Pydantic schemas: one class per use, JSON on every boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

from .clock import as_utc, iso

TaskStatus = Literal["pending", "running", "awaiting_input", "completed", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# How a run ended: cancelled through the API or by a Durable terminate, both recorded as `cancelled`.
OutcomeStatus = Literal["completed", "failed", "cancelled"]
# The longest error text a task result carries.
MAX_ERROR_CHARS = 2000

# Durable instance ids may not hold '/', '\\', '#', '?' or control characters; this is stricter.
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$"

UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
TaskId = Annotated[str, Field(pattern=TASK_ID_PATTERN)]


def _meaningful_prompt(value: str) -> str:
    if not value.strip():
        raise ValueError("prompt must not be blank")
    if "\x00" in value:
        raise ValueError("prompt must not contain NUL characters")
    return value


Prompt = Annotated[str, Field(min_length=1), AfterValidator(_meaningful_prompt)]


class TaskCreate(BaseModel):
    """Body of `POST /tasks`, as the original service took it (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    prompt: Prompt
    use_aoai: bool = True
    model_name: str = Field(default="gpt-4o", pattern=MODEL_NAME_PATTERN)
    # Where to POST the signed completion event (https, a host on CALLBACK_ALLOWED_HOSTS).
    callback_url: str | None = Field(default=None, max_length=2048)
    # "plan": after facts and plan the task waits in `awaiting_input` for POST /tasks/{id}/input.
    review: Literal["plan"] | None = None


class QueuedTask(TaskCreate):
    """A queue message: the `POST /tasks` body plus an optional caller-chosen task id."""

    task_id: TaskId | None = None


class ResumePoint(BaseModel):
    """Where the next slice of a run goes on: the attempt and round of its latest checkpoint (the
    checkpoint itself is in SQLite: Durable state carries only this)."""

    model_config = ConfigDict(defer_build=True)

    attempt: int = Field(ge=1)
    round: int = Field(ge=0)  # 0: the plan, before the first round (plan review)
    slices: int = Field(default=1, ge=1)  # slices run so far


class PlanReview(BaseModel):
    """A run paused for its plan to be reviewed: the orchestrator's facts and plan, and how long to wait."""

    model_config = ConfigDict(defer_build=True)

    facts: str
    plan: str
    timeout_seconds: float = Field(gt=0)


class PlanInput(BaseModel):
    """Body of `POST /tasks/{id}/input`: approve the plan, replace it (`revise` with the new `plan`),
    or `reject` it (the task ends `cancelled`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    action: Literal["approve", "revise", "reject"]
    plan: str | None = Field(default=None, min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _plan_with_revise_only(self) -> PlanInput:
        if (self.action == "revise") != (self.plan is not None):
            raise ValueError("a plan is given with action revise, and only then")
        return self


class ReviewDecision(BaseModel):
    """What the run does with its reviewed plan: a reviewer's input, or `expired` (REVIEW_TIMEOUT_SECONDS)."""

    model_config = ConfigDict(defer_build=True)

    action: Literal["approve", "revise", "reject", "expired"]
    plan: str | None = None


class RunPaused(BaseModel):
    """The run activity's result when its slice of time is used: the run goes on from `resume`."""

    model_config = ConfigDict(defer_build=True)

    status: Literal["paused"] = "paused"
    resume: ResumePoint
    review: PlanReview | None = None  # paused for plan review, not for time


class TaskInput(BaseModel):
    """The orchestration's input: everything the run needs, fixed when the task is created (and,
    from the second slice of a run on, where it goes on)."""

    model_config = ConfigDict(defer_build=True)

    task_id: TaskId
    prompt: str
    use_aoai: bool
    model_name: str
    owner: str | None = None
    created_at: UtcDatetime
    max_attempts: int = Field(default=3, ge=1)
    first_retry_ms: int = Field(default=5000, ge=1)
    callback_url: str | None = None
    # Fixed when the task is created, so the orchestrator (deterministic) needs no settings.
    event_sinks: tuple[str, ...] = ()
    callback_retry_seconds: float = Field(default=24 * 3600.0, gt=0)
    result_base_url: str = ""  # https://<app host>, for the URLs in completion events
    trace_parent: str | None = None  # W3C traceparent of the task's trace (magentic_tasks.telemetry)
    resume: ResumePoint | None = None  # set by the orchestrator for the next slice (continue_as_new)
    review: Literal["plan"] | None = None
    review_decision: ReviewDecision | None = None  # the reviewed plan's fate, for the slice after the review


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


# ---- HTTP response bodies -------------------------------------------------------------------


class TaskCreated(BaseModel):
    model_config = ConfigDict(defer_build=True)

    task_id: str
    status: TaskStatus
    created_at: UtcDatetime


class TaskProgress(BaseModel):
    """How far a running task has got, as its run last mirrored it (one round behind at most)."""

    model_config = ConfigDict(defer_build=True)

    attempt: int
    rounds: int
    last_speaker: str | None
    messages: int
    prompt_tokens: int
    completion_tokens: int


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


# ---- error bodies (FastAPI's shapes) ----------------------------------------------------------


class ErrorDetail(BaseModel):
    """Any error other than validation: `{"detail": "..."}`."""

    model_config = ConfigDict(defer_build=True)

    detail: str


class ValidationErrorItem(BaseModel):
    model_config = ConfigDict(defer_build=True)

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrors(BaseModel):
    """A 422 (or 413): one entry per problem, as FastAPI reports them."""

    model_config = ConfigDict(defer_build=True)

    detail: list[ValidationErrorItem]


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


# ---- completion events and callbacks -------------------------------------------------------------


class CallbackState(BaseModel):
    """Where the delivery of a task's signed completion event stands (the URL itself is not shown)."""

    model_config = ConfigDict(defer_build=True)

    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
