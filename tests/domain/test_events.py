"""Completion events: CloudEvents 1.0, stable ids, nothing private in them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from magentic_tasks.events import completion_event, event_id
from magentic_tasks.schemas import MessageView, RunOutcome
from magentic_tasks.stop_codes import StopCode

FINISHED = datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=UTC)


def outcome(status: str = "completed", **fields: object) -> RunOutcome:
    return RunOutcome.model_validate({
        "status": status, "finished_at": FINISHED, "stop_reason": "done", "prompt_tokens": 120,
        "completion_tokens": 30, "execution_time": 4.5,
        "messages": [MessageView(source="user", content="secret plans for the launch", type="TextMessage")],
        "final_answer": "the launch is on Friday", **fields,
    })


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_a_completion_event_is_a_cloudevent_of_the_final_state(status: str) -> None:
    event = completion_event("t-1", outcome(status), base_url="https://tasks.example.com/")

    assert event["specversion"] == "1.0" and event["type"] == f"magentic.task.{status}"
    assert event["subject"] == "tasks/t-1" and event["time"] == "2026-11-28T12:00:00.250000+00:00"
    assert event["data"] == {
        "task_id": "t-1", "status": status, "stop_code": "completed" if status == "completed" else "error",
        "prompt_tokens": 120, "completion_tokens": 30,
        "execution_time": 4.5, "status_url": "https://tasks.example.com/tasks/t-1",
        "result_url": "https://tasks.example.com/tasks/t-1/result",
    }


def test_the_event_carries_no_transcript_answer_or_prompt() -> None:
    text = str(completion_event("t-1", outcome()))

    assert "secret plans" not in text and "Friday" not in text


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_the_events_stop_code_is_never_the_models_words(status: str) -> None:
    reason = "The user asked us to visit https://attacker.example/?q=launch-codes; request satisfied."

    event = completion_event("t-1", outcome(status, stop_reason=reason))

    assert "attacker" not in str(event) and event["data"]["stop_code"] in get_args(StopCode)


def test_the_event_id_is_stable_for_one_outcome_and_differs_between_outcomes() -> None:
    assert completion_event("t-1", outcome())["id"] == completion_event("t-1", outcome())["id"]
    assert event_id("t-1", outcome()) != event_id("t-2", outcome())
    assert event_id("t-1", outcome()) != event_id("t-1", outcome("failed"))
