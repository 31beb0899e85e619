"""The team a task runs with: which agents, and its own limits within the server's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# "web": the WebSurfer; "files": the FileSurfer; "code": the Coder (and, where CODE_EXECUTOR is set,
# the ComputerTerminal that runs its code).
AgentName = Literal["web", "files", "code"]
AGENT_NAMES: tuple[AgentName, ...] = ("web", "files", "code")


class TeamOptions(BaseModel):
    """A task's team, resolved when the task is created: what it asked for, or the server's
    defaults, never past the server's caps (MAX_TURNS, MAX_TOKENS_PER_TASK, TASK_TIMEOUT_SECONDS)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    agents: tuple[AgentName, ...] = Field(min_length=1)
    max_turns: int = Field(ge=1)
    max_tokens: int | None = Field(default=None, ge=1)  # None: no token budget
    deadline_seconds: float = Field(gt=0)
