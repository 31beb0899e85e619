"""Pydantic schemas: one class per use, JSON on every boundary.

The public names live in small private modules, one idea each: `_types` (statuses, id and
model-name patterns, UTC timestamps), `_requests` (what callers send: `POST /tasks`, queue
messages, plan input), `_runs` (what the orchestration carries: its input, resume points, plan
review), `_outcomes` (transcript entries, token usage, a run's outcome, a task as a store knows
it), `_progress` (a running task's progress, its callback's delivery), `_views` (the HTTP API's
answers) and `_errors` (error bodies).

Every name is importable from here; each module is loaded when one of its names is first asked
for, so loading the app creates only the models its module bodies use (creating a pydantic model
class is most of the app's own import time; the HTTP answers are needed by the first request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._errors import ErrorDetail, ValidationErrorItem, ValidationErrors
    from ._files import INPUTS_FOLDER, FileKind, FileRef, FileUpload, SkippedFile, TaskFile, TaskFilesView
    from ._outcomes import (
        CANCEL_REASON,
        IMAGE_REF_TYPE,
        IMAGE_TYPE,
        MAX_ERROR_CHARS,
        STOPPED,
        MessageView,
        RunOutcome,
        TaskSnapshot,
        TokenUsage,
    )
    from ._progress import CallbackState, TaskProgress
    from ._requests import PlanInput, Prompt, QueuedTask, TaskCreate
    from ._runs import PlanReview, ResumePoint, ReviewDecision, RunPaused, TaskInput
    from ._team import AGENT_NAMES, AgentName, TeamOptions
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

# Which private module defines each public name.
_MODULES: dict[str, tuple[str, ...]] = {
    "_errors": ("ErrorDetail", "ValidationErrorItem", "ValidationErrors"),
    "_files": ("INPUTS_FOLDER", "FileKind", "FileRef", "FileUpload", "SkippedFile", "TaskFile", "TaskFilesView"),
    "_outcomes": ("CANCEL_REASON", "IMAGE_REF_TYPE", "IMAGE_TYPE", "MAX_ERROR_CHARS", "STOPPED", "MessageView",
                  "RunOutcome", "TaskSnapshot", "TokenUsage"),
    "_progress": ("CallbackState", "TaskProgress"),
    "_requests": ("PlanInput", "Prompt", "QueuedTask", "TaskCreate"),
    "_runs": ("PlanReview", "ResumePoint", "ReviewDecision", "RunPaused", "TaskInput"),
    "_team": ("AGENT_NAMES", "AgentName", "TeamOptions"),
    "_types": ("FINAL_STATUSES", "MODEL_NAME_PATTERN", "TASK_ID_PATTERN", "OutcomeStatus", "TaskId", "TaskStatus",
               "UtcDatetime"),
    "_views": ("TaskCancelled", "TaskCreated", "TaskInputAccepted", "TaskList", "TaskMessagesView",
               "TaskNotFinishedView", "TaskResultBody", "TaskResultInfo", "TaskResultView", "TaskStatusView",
               "TaskSummary"),
}
__getattr__ = lazy_names(__name__, _MODULES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AGENT_NAMES",
    "CANCEL_REASON",
    "FINAL_STATUSES",
    "IMAGE_REF_TYPE",
    "IMAGE_TYPE",
    "INPUTS_FOLDER",
    "MAX_ERROR_CHARS",
    "MODEL_NAME_PATTERN",
    "STOPPED",
    "TASK_ID_PATTERN",
    "AgentName",
    "CallbackState",
    "ErrorDetail",
    "FileKind",
    "FileRef",
    "FileUpload",
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
    "SkippedFile",
    "TaskCancelled",
    "TaskCreate",
    "TaskCreated",
    "TaskFile",
    "TaskFilesView",
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
    "TeamOptions",
    "TokenUsage",
    "UtcDatetime",
    "ValidationErrorItem",
    "ValidationErrors",
]
