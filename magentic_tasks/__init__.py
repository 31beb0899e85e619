"""Magentic-One tasks as a service: the domain, free of Azure imports.

The names here are the light ones the HTTP functions use. The team run (`runner`, `execution`,
`team`, `clients`, `metering`, `shaping`) imports autogen and is imported by the activities only.
"""

from .errors import ConfigurationError, StoreError, TaskRunError, TaskServiceError, TokenBudgetExceeded
from .schemas import (
    MessageView,
    RunOutcome,
    TaskCreate,
    TaskInput,
    TaskResultView,
    TaskSnapshot,
    TaskStatus,
    TaskStatusView,
)
from .service import ApiResponse, Orchestrations, TaskService
from .settings import Settings, get_settings
from .store import TaskStore

__all__ = [
    "ApiResponse",
    "ConfigurationError",
    "MessageView",
    "Orchestrations",
    "RunOutcome",
    "Settings",
    "StoreError",
    "TaskCreate",
    "TaskInput",
    "TaskResultView",
    "TaskRunError",
    "TaskService",
    "TaskServiceError",
    "TaskSnapshot",
    "TaskStatus",
    "TaskStatusView",
    "TaskStore",
    "TokenBudgetExceeded",
    "get_settings",
]
