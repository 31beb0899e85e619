"""What the orchestration carries: its input, where a sliced run goes on, and plan review."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._files import FileRef
from ._team import TeamOptions
from ._types import TaskId, UtcDatetime


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
    team: TeamOptions | None = None  # None: created before per-task options (the run takes the settings)
    request_fingerprint: str | None = None  # `TaskCreate.fingerprint()` of the request: Idempotency-Key replays
    files: tuple[FileRef, ...] = ()  # the attachments: references only, never their bytes
