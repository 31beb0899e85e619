"""Plan review: what a run paused with its plan does with the reviewer's decision."""

from __future__ import annotations

import copy
from dataclasses import replace

from ..runner import Resume, RunReport, planned
from ..schemas import ReviewDecision, TaskInput
from ..settings import Settings
from ..team import ORCHESTRATOR_NAME

PLAN_REJECTED = "plan rejected"
REVIEW_EXPIRED = "review expired"


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
        state = copy.deepcopy(dict(resume.state))
        state["agent_states"][ORCHESTRATOR_NAME]["plan"] = decision.plan
        return replace(resume, state=state)
    return resume
