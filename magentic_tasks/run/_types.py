"""What a run is handed and hands back: its sinks, a round boundary, where it resumes, its report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..schemas import MessageView, OutcomeStatus, PlanReview, TokenUsage

# Takes the run's messages as they arrive.
MessageSink = Callable[[list[MessageView]], Awaitable[None]]


@dataclass(frozen=True)
class RoundBoundary:
    """A clean round boundary: the idle team's saved state and how far the run has got."""

    state: Mapping[str, Any]
    rounds: int  # completed by the run, over every slice and resumed attempt
    messages: int  # transcript entries so far
    elapsed: float  # seconds the run has worked, over every slice


@dataclass(frozen=True)
class Resume:
    """Where a run resumes: a boundary's team state, the transcript up to it, its rounds and time, and
    the attempt that saved it (whose plan a review decides, at round 0)."""

    state: Mapping[str, Any]
    history: list[MessageView]
    rounds: int
    elapsed: float
    attempt: int = 0


# Hands a boundary over to be saved: a future of whether it was (the run waits only where it pauses).
CheckpointSink = Callable[[RoundBoundary], Awaitable[asyncio.Future[bool]]]


@dataclass
class RunReport:
    status: OutcomeStatus
    messages: list[MessageView]
    usage_by_agent: dict[str, TokenUsage]
    execution_time: float
    final_answer: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    retryable: bool = False
    paused: bool = False  # the slice ended at a checkpointed round boundary; the run goes on elsewhere
    rounds: int = 0
    review: PlanReview | None = None  # paused with facts and plan made, for a reviewer

    @property
    def usage(self) -> TokenUsage:
        return sum(self.usage_by_agent.values(), TokenUsage())
