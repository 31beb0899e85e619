"""Pydantic schemas: one class per use, JSON on every boundary.

The public names live in small private modules, one idea each: `_types` (statuses, id and
model-name patterns, UTC timestamps), `_requests` (what callers send: `POST /tasks`, queue
messages, plan input), `_runs` (what the orchestration carries: its input, resume points, plan
review), `_outcomes` (transcript entries, token usage, a run's outcome, a task as a store knows
it), `_progress` (a running task's progress, its callback's delivery), `_views` (the HTTP API's
answers) and `_errors` (error bodies).
"""

from ._errors import ErrorDetail, ValidationErrorItem, ValidationErrors
from ._outcomes import MAX_ERROR_CHARS, MessageView, RunOutcome, TaskSnapshot, TokenUsage
from ._progress import CallbackState, TaskProgress
from ._requests import PlanInput, Prompt, QueuedTask, TaskCreate
from ._runs import PlanReview, ResumePoint, ReviewDecision, RunPaused, TaskInput
from ._types import (
    FINAL_STATUSES,
    MODEL_NAME_PATTERN,
    TASK_ID_PATTERN,
    OutcomeStatus,
    TaskId,
    TaskStatus,
    UtcDatetime,
)
from ._views import (
    TaskCancelled,
    TaskCreated,
    TaskInputAccepted,
    TaskList,
    TaskMessagesView,
    TaskNotFinishedView,
    TaskResultBody,
    TaskResultInfo,
    TaskResultView,
    TaskStatusView,
    TaskSummary,
)

__all__ = [
    "FINAL_STATUSES",
    "MAX_ERROR_CHARS",
    "MODEL_NAME_PATTERN",
    "TASK_ID_PATTERN",
    "CallbackState",
    "ErrorDetail",
    "MessageView",
    "OutcomeStatus",
    "PlanInput",
    "PlanReview",
    "Prompt",
    "QueuedTask",
    "ResumePoint",
    "ReviewDecision",
    "RunOutcome",
    "RunPaused",
    "TaskCancelled",
    "TaskCreate",
    "TaskCreated",
    "TaskId",
    "TaskInput",
    "TaskInputAccepted",
    "TaskList",
    "TaskMessagesView",
    "TaskNotFinishedView",
    "TaskProgress",
    "TaskResultBody",
    "TaskResultInfo",
    "TaskResultView",
    "TaskSnapshot",
    "TaskStatus",
    "TaskStatusView",
    "TaskSummary",
    "TokenUsage",
    "UtcDatetime",
    "ValidationErrorItem",
    "ValidationErrors",
]
