"""The service's exceptions, in one place."""

from __future__ import annotations


class TaskServiceError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigurationError(TaskServiceError):
    """A setting the current call needs is missing or invalid."""


class StoreError(TaskServiceError):
    """The SQLite mirror could not be read or written (after its retries)."""


class TaskRunError(TaskServiceError):
    """The team run failed in a way worth retrying; the message is already free of secrets."""


class TokenBudgetExceeded(TaskServiceError):
    """The run used up `MAX_TOKENS_PER_TASK`; no further model call is made."""

    def __init__(self, used: int, budget: int) -> None:
        super().__init__(f"token budget exhausted: {used} tokens used of {budget}")
        self.used = used
        self.budget = budget
