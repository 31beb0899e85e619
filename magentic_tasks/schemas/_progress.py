"""Where a task stands while it runs: its progress as last mirrored, and its completion callback's delivery."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class TaskProgress(BaseModel):
    """How far a running task has got, as its run last mirrored it (one round behind at most)."""

    model_config = ConfigDict(defer_build=True)

    attempt: int
    rounds: int
    last_speaker: str | None
    messages: int
    prompt_tokens: int
    completion_tokens: int


class CallbackState(BaseModel):
    """Where the delivery of a task's signed completion event stands (the URL itself is not shown)."""

    model_config = ConfigDict(defer_build=True)

    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
