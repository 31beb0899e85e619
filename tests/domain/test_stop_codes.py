"""Stop codes: every stop reason a run can end with maps to a fixed code; the model's words never
pass through."""

from __future__ import annotations

import inspect

import pytest
from autogen_agentchat.teams._group_chat._magentic_one._magentic_one_orchestrator import MagenticOneOrchestrator

from magentic_tasks.run import PLAN_REJECTED, REVIEW_EXPIRED
from magentic_tasks.schemas import STOPPED
from magentic_tasks.stop_codes import TURN_LIMIT_REASON, stop_code


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        ("completed", "The request has been satisfied: the haiku is written.", "completed"),  # the ledger's reason
        ("completed", TURN_LIMIT_REASON, "turn_limit"),
        ("completed", None, "completed"),
        ("failed", "timeout", "timeout"),
        ("failed", "token budget exhausted", "token_budget"),
        ("failed", "configuration error", "configuration_error"),
        ("failed", "error", "error"),
        ("failed", "something new", "error"),
        ("cancelled", STOPPED, "cancelled"),
        ("cancelled", PLAN_REJECTED, "plan_rejected"),
        ("cancelled", REVIEW_EXPIRED, "review_expired"),
        ("cancelled", None, "cancelled"),
        # A model that writes one of the codes' reasons as its own does not change what happened.
        ("completed", "timeout", "completed"),
        ("completed", "error", "completed"),
    ],
)
def test_every_stop_reason_maps_to_its_code(status: str, reason: str | None, code: str) -> None:
    assert stop_code(status, reason) == code


def test_the_turn_limit_reason_is_the_one_magentic_one_gives() -> None:
    assert f'"{TURN_LIMIT_REASON}"' in inspect.getsource(MagenticOneOrchestrator._orchestrate_step)
