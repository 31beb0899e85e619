"""Magentic-One tasks as a service: the domain, free of Azure imports.

The names here are the light ones the HTTP functions use. The team run (`runner`, `execution`,
`team`, `clients`, `metering`, `shaping`) imports autogen and is imported by the activities only.
Each name is imported when it is first asked for, so importing one module of the package (as the
Function App's modules do while the worker indexes them) does not import the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names

if TYPE_CHECKING:
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

_MODULES: dict[str, tuple[str, ...]] = {
    "errors": ("ConfigurationError", "StoreError", "TaskRunError", "TaskServiceError", "TokenBudgetExceeded"),
    "schemas": ("MessageView", "RunOutcome", "TaskCreate", "TaskInput", "TaskResultView", "TaskSnapshot", "TaskStatus",
                "TaskStatusView"),
    "service": ("ApiResponse", "Orchestrations", "TaskService"),
    "settings": ("Settings", "get_settings"),
    "store": ("TaskStore",),
}
__getattr__ = lazy_names(__name__, _MODULES)


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
