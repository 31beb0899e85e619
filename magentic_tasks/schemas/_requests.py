"""What callers send: the `POST /tasks` body, a queue message, and `POST /tasks/{id}/input`."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ._files import FileUpload
from ._team import AgentName
from ._types import MODEL_NAME_PATTERN, TaskId


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
    # The team's options, each capped by the server's setting (default: the server's).
    agents: list[AgentName] | None = Field(default=None, min_length=1, max_length=3)
    max_turns: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    deadline_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # Attachments: stored (inline content) or fetched (urls) into the task's workspace under inputs/,
    # within FILES_MAX_COUNT, FILES_MAX_BYTES and FILES_INLINE_MAX_BYTES (checked by the service).
    files: list[FileUpload] | None = Field(default=None, max_length=1000)

    @field_validator("agents")
    @classmethod
    def _agents_once_each(cls, agents: list[AgentName] | None) -> list[AgentName] | None:
        if agents is not None and len(set(agents)) != len(agents):
            raise ValueError("agents names each agent at most once")
        return agents

    def fingerprint(self) -> str:
        """SHA-256 of the request as validated, every field included (defaults too, so spelling one out
        changes nothing; a field added later counts by itself): what an `Idempotency-Key` replay compares."""
        fields = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(fields.encode()).hexdigest()


class QueuedTask(TaskCreate):
    """A queue message (or an event's data): the `POST /tasks` body plus an optional caller-chosen
    task id and an optional owner, the principal id that may read the task over HTTP (trusted: only
    the app's own identity, or whoever the operator lets, sends to its queues and topics)."""

    task_id: TaskId | None = None
    owner: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = None


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
