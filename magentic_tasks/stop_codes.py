"""Why a run ended, as a fixed code: what completion events and metrics say instead of the stop
reason's text (a completed run's reason is the progress ledger's, written by the model).

Every stop reason the service produces maps to its code; anything else (the model's words, a reason
a later version adds) to its status's generic code: `completed`, `error` or `cancelled`. A reason is
read only under the status that produces it, so a model that writes "timeout" as its reason still
ends `completed`. The full reason stays in the task's own result (`task_result.stop_reason`).
"""

from __future__ import annotations

from typing import Literal

StopCode = Literal[
    "completed", "turn_limit", "timeout", "token_budget", "configuration_error", "error", "cancelled",
    "plan_rejected", "review_expired",
]

# Magentic-One's orchestrator ends a run that reached max_turns with this reason (and a final answer).
TURN_LIMIT_REASON = "Max rounds reached."

_GENERIC: dict[str, StopCode] = {"completed": "completed", "failed": "error", "cancelled": "cancelled"}
# The reasons of run/_team_run.py, run/_review.py and schemas (STOPPED), by status.
_KNOWN: dict[str, dict[str, StopCode]] = {
    "completed": {TURN_LIMIT_REASON: "turn_limit"},
    "failed": {"timeout": "timeout", "token budget exhausted": "token_budget",
               "configuration error": "configuration_error", "error": "error"},
    "cancelled": {"cancelled": "cancelled", "plan rejected": "plan_rejected", "review expired": "review_expired"},
}


def stop_code(status: str, stop_reason: str | None) -> StopCode:
    """The code of an outcome with `status` and `stop_reason`."""
    return _KNOWN.get(status, {}).get(stop_reason or "", _GENERIC.get(status, "error"))
