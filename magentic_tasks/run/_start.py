"""Where an attempt starts: afresh, continuing its own attempt (the next slice), or resumed into a
new attempt from the latest checkpoint.

A checkpoint resumes only into the team that saved it (autogen loads a team state into no other),
so a resumed run is built with the checkpoint's agents. When the settings can no longer build one
of them (`CODE_EXECUTOR` turned to `none`, the WebSurfer turned off, between two slices or while a
plan waited for review), the run starts over in a new attempt with the team the settings give now,
and says why in the log: facts and plan are made again, by a team that exists.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..clock import utc_now
from ..schemas import MessageView, TaskInput, TokenUsage
from ..settings import Settings
from ..store import Checkpoint, TaskStore, best_effort
from ._team import available_members, members_of
from ._types import Resume

logger = logging.getLogger(__name__)


@dataclass
class Start:
    """How an attempt begins."""

    attempt: int | None
    deadline: datetime
    resume: Resume | None = None
    usage: dict[str, TokenUsage] = field(default_factory=dict)  # the attempt's own, so far
    spent_before: dict[str, TokenUsage] = field(default_factory=dict)  # the run's, before this attempt
    marked: asyncio.Future[None] | None = None  # the task's row marked running (awaited before the end)
    fresh: bool = False  # the attempt made the task's file: nothing was recorded for the task before it


async def first_attempt(
    task: TaskInput, settings: Settings, store: TaskStore, now: datetime, lease: tuple[str, float]
) -> Start | None:
    """The task's first attempt, when the task has written nothing yet (no file of its own: it has
    not run, and no outcome was recorded for it), begun in the one transaction that makes its file
    and takes the run's `lease`, without a read of the shared file; None otherwise (`start_attempt`,
    once the lease is held and no outcome is found)."""
    if task.resume is not None:
        return None
    attempt = await best_effort(store.begin_first_attempt, task, now, lease)
    if attempt is None:
        return None
    deadline = utc_now() + timedelta(seconds=settings.task_timeout_seconds)  # from when the run can begin
    return Start(attempt, deadline, marked=_mark_running(task, store, now), fresh=True)


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
            recorded = await best_effort(store.attempt_usage, task.task_id) or {}
            own = recorded.get(claimed.attempt, {})
            if _team_gone(task, claimed, settings):
                error = "the team changed since its checkpoint: the run started over in a new attempt"
                await best_effort(store.finish_attempt, task.task_id, claimed.attempt, now, own, error)
                return await _over(task, settings, store, now)
            if len(history) == claimed.messages:
                return Start(claimed.attempt, claimed.deadline, _resume(claimed, history), own,
                             _minus(claimed.usage_by_agent, own))
    latest = await best_effort(store.latest_checkpoint, task.task_id)
    if latest is not None and _team_gone(task, latest, settings):
        return await _over(task, settings, store, now)
    # One transaction of the task's own file; the shared file's row is marked running meanwhile.
    begun = await best_effort(store.start_attempt, task, now)
    if begun is None:
        return Start(None, now + timedelta(seconds=settings.task_timeout_seconds))
    attempt, resumed, history = begun
    marked = _mark_running(task, store, now)
    if resumed is None:
        return Start(attempt, now + timedelta(seconds=settings.task_timeout_seconds), marked=marked)
    return Start(attempt, resumed.deadline, _resume(resumed, history), {}, dict(resumed.usage_by_agent), marked)


def _mark_running(task: TaskInput, store: TaskStore, now: datetime) -> asyncio.Future[None]:
    return asyncio.ensure_future(best_effort(store.mark_running, task, now))


def _team_gone(task: TaskInput, checkpoint: Checkpoint, settings: Settings) -> bool:
    """Whether the checkpoint needs an agent these settings cannot build (logged when so)."""
    gone = members_of(checkpoint.state) - available_members(settings, task.team.agents if task.team else None)
    if gone:
        logger.warning("task %s: %s of the team its checkpoint was saved with is no longer available "
                       "(CODE_EXECUTOR, ENABLE_WEB_SURFER): the run starts over in a new attempt",
                       task.task_id, ", ".join(sorted(gone)))
    return bool(gone)


async def _over(task: TaskInput, settings: Settings, store: TaskStore, now: datetime) -> Start:
    """A new attempt from scratch, its checkpoints gone (no retry resumes into the old team); its
    token budget counts what the earlier attempts spent."""
    await best_effort(store.discard_checkpoints, task.task_id)
    attempt = await best_effort(store.begin_attempt, task, now)
    recorded = await best_effort(store.attempt_usage, task.task_id) or {}
    spent: dict[str, TokenUsage] = {}
    for usage in recorded.values():
        spent = {agent: spent.get(agent, TokenUsage()) + usage.get(agent, TokenUsage()) for agent in {*spent, *usage}}
    marked = None if attempt is None else _mark_running(task, store, now)
    return Start(attempt, now + timedelta(seconds=settings.task_timeout_seconds), spent_before=spent, marked=marked)


def _resume(checkpoint: Checkpoint, history: list[MessageView]) -> Resume:
    return Resume(checkpoint.state, history, checkpoint.round, checkpoint.elapsed, checkpoint.attempt)


def _minus(total: dict[str, TokenUsage], part: dict[str, TokenUsage]) -> dict[str, TokenUsage]:
    """The run's tokens before a continued attempt (never negative: usage only grows)."""
    out: dict[str, TokenUsage] = {}
    for agent, spent in total.items():
        own = part.get(agent, TokenUsage())
        out[agent] = TokenUsage(prompt_tokens=max(spent.prompt_tokens - own.prompt_tokens, 0),
                                completion_tokens=max(spent.completion_tokens - own.completion_tokens, 0))
    return out
