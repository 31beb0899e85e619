"""Where an attempt starts: afresh, continuing its own attempt (the next slice), or resumed into a
new attempt from the latest checkpoint."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..schemas import MessageView, TaskInput, TokenUsage
from ..settings import Settings
from ..store import Checkpoint, TaskStore, best_effort
from ._types import Resume


@dataclass
class Start:
    """How an attempt begins."""

    attempt: int | None
    deadline: datetime
    resume: Resume | None = None
    usage: dict[str, TokenUsage] = field(default_factory=dict)  # the attempt's own, so far
    spent_before: dict[str, TokenUsage] = field(default_factory=dict)  # the run's, before this attempt
    marked: asyncio.Future[None] | None = None  # the task's row marked running (awaited before the end)


async def first_attempt(task: TaskInput, settings: Settings, store: TaskStore, now: datetime) -> Start | None:
    """The task's first attempt, when the task has written nothing yet (no file of its own: it has
    not run, and no outcome was recorded for it), begun in the one transaction that makes its file,
    without a read of the shared file; None otherwise (`start_attempt`, once no outcome is found)."""
    if task.resume is not None:
        return None
    attempt = await best_effort(store.begin_first_attempt, task, now)
    if attempt is None:
        return None
    marked = asyncio.ensure_future(best_effort(store.mark_running, task, now))
    return Start(attempt, now + timedelta(seconds=settings.task_timeout_seconds), marked=marked)


async def start_attempt(task: TaskInput, settings: Settings, store: TaskStore, holder: str, now: datetime) -> Start:
    """The next slice continues its attempt in place when it can claim the checkpoint it was handed
    and that attempt's transcript ends there; otherwise a new attempt begins, resumed from the
    latest checkpoint (its transcript copied up to it) or from scratch when there is none, and the
    task's row is marked running in the background (the run does not wait for the shared file)."""
    if task.resume is not None:
        point = task.resume
        claimed = await best_effort(store.claim_checkpoint, task.task_id, point.attempt, point.round, holder)
        if claimed is not None:
            history = await best_effort(store.messages, task.task_id, claimed.attempt) or []
            if len(history) == claimed.messages:
                recorded = await best_effort(store.attempt_usage, task.task_id) or {}
                own = recorded.get(claimed.attempt, {})
                return Start(claimed.attempt, claimed.deadline, _resume(claimed, history), own,
                             _minus(claimed.usage_by_agent, own))
    # One transaction of the task's own file; the shared file's row is marked running meanwhile.
    begun = await best_effort(store.start_attempt, task, now)
    if begun is None:
        return Start(None, now + timedelta(seconds=settings.task_timeout_seconds))
    attempt, latest, history = begun
    marked = asyncio.ensure_future(best_effort(store.mark_running, task, now))
    if latest is None:
        return Start(attempt, now + timedelta(seconds=settings.task_timeout_seconds), marked=marked)
    return Start(attempt, latest.deadline, _resume(latest, history), {}, dict(latest.usage_by_agent), marked)


def _resume(checkpoint: Checkpoint, history: list[MessageView]) -> Resume:
    return Resume(checkpoint.state, history, checkpoint.round, checkpoint.elapsed)


def _minus(total: dict[str, TokenUsage], part: dict[str, TokenUsage]) -> dict[str, TokenUsage]:
    """The run's tokens before a continued attempt (never negative: usage only grows)."""
    out: dict[str, TokenUsage] = {}
    for agent, spent in total.items():
        own = part.get(agent, TokenUsage())
        out[agent] = TokenUsage(prompt_tokens=max(spent.prompt_tokens - own.prompt_tokens, 0),
                                completion_tokens=max(spent.completion_tokens - own.completion_tokens, 0))
    return out
