"""How a failed team run is described, and whether another attempt is worth it."""

from __future__ import annotations

import re

from ..text import storable
from ._metering import UsageMeter

# Failures worth another attempt: the model service was unreachable, overloaded or erring, or a
# plan could not be saved for its reviewer (the mirror was unavailable).
TRANSIENT_ERRORS = frozenset(
    {"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError", "ConnectionError",
     "PlanNotSaved"}
)

_ERROR_HEAD = re.compile(r"^(\w+): ")


def describe(error: BaseException) -> tuple[str, str]:
    """The error's type name and a one-line description, without autogen's appended traceback
    (autogen re-raises an agent's error as a RuntimeError whose text starts with the original type)."""
    text = storable(str(error).split("\nTraceback:", 1)[0].strip())
    if isinstance(error, RuntimeError):
        match = _ERROR_HEAD.match(text)
        if match:
            return match.group(1), text
    name = type(error).__name__
    return name, f"{name}: {text}" if text else name


def budget_message(meter: UsageMeter) -> str:
    total = meter.total
    return (
        f"token budget exhausted: {total.prompt_tokens + total.completion_tokens} tokens used "
        f"of MAX_TOKENS_PER_TASK={meter.budget} (or the task's own max_tokens)"
    )
