"""Plan review: the plan a paused run shows its reviewer, and what the reviewer's decision does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from autogen_agentchat.state import MagenticOneOrchestratorState, TeamState

from ..clock import utc_now
from ..schemas import PlanReview, ReviewDecision, TaskInput
from ..settings import Settings
from ..store import TaskStore, best_effort
from ._team import ORCHESTRATOR_NAME
from ._types import Resume, RunReport

PLAN_REJECTED = "plan rejected"
REVIEW_EXPIRED = "review expired"


def orchestrator_state(state: Mapping[str, Any]) -> MagenticOneOrchestratorState:
    """The orchestrator's own part of a saved team state, typed as autogen saves it."""
    return MagenticOneOrchestratorState.model_validate(TeamState.model_validate(state).agent_states[ORCHESTRATOR_NAME])


def planned(state: Mapping[str, Any], settings: Settings) -> PlanReview:
    """The facts and plan in a team state saved for review."""
    orchestrator = orchestrator_state(state)
    return PlanReview(facts=orchestrator.facts, plan=orchestrator.plan, timeout_seconds=settings.review_timeout_seconds)


def with_plan(state: Mapping[str, Any], plan: str) -> dict[str, Any]:
    """A copy of a saved team state whose orchestrator goes on with `plan`."""
    team = TeamState.model_validate(state)
    revised = orchestrator_state(state).model_copy(update={"plan": plan})
    agents = {**team.agent_states, ORCHESTRATOR_NAME: revised.model_dump(mode="json")}
    return team.model_copy(update={"agent_states": agents}).model_dump(mode="json")


def awaits_review(task: TaskInput, resume: Resume | None) -> bool:
    """Whether this run starts from the plan its reviewer was shown (checkpoint round 0)."""
    return task.review == "plan" and resume is not None and resume.rounds == 0


def decided(task: TaskInput, resume: Resume, settings: Settings) -> Resume | RunReport:
    """The run to go on with (the plan approved, or replaced by the reviewer's), or the report of a
    run that ends here: paused again while no decision has come (a slice redelivered before the
    review), or `cancelled` when the plan was rejected or the review expired."""
    decision: ReviewDecision | None = task.review_decision
    if decision is None:
        return RunReport(status="completed", messages=resume.history, usage_by_agent={}, execution_time=resume.elapsed,
                         stop_reason="slice", paused=True, review=planned(resume.state, settings))
    if decision.action in ("reject", "expired"):
        rejected = decision.action == "reject"
        error = (f"plan rejected through POST /tasks/{task.task_id}/input" if rejected else
                 f"no plan review within REVIEW_TIMEOUT_SECONDS ({settings.review_timeout_seconds:g} s)")
        return RunReport(status="cancelled", messages=resume.history, usage_by_agent={},
                         execution_time=resume.elapsed, stop_reason=PLAN_REJECTED if rejected else REVIEW_EXPIRED,
                         error=error)
    if decision.action == "revise" and decision.plan is not None:
        return replace(resume, state=with_plan(resume.state, decision.plan))
    return resume


async def review_taken(task: TaskInput, store: TaskStore, attempt: int) -> TaskInput:
    """The task with the decision taken on the plan of `attempt`: the first one SQLite recorded (a
    reviewer's input accepted before the review timer fired, say) rather than the one the
    orchestration handed over, which is recorded when it is the first (the expiry). Without SQLite,
    the orchestration's."""
    given = task.review_decision
    if given is not None:
        taken = await best_effort(store.decide_review, task.task_id, given, utc_now(), attempt)
    else:
        taken = await best_effort(store.review_decision, task.task_id, attempt)
    return task if taken is None else task.model_copy(update={"review_decision": taken})
