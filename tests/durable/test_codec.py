"""The codec: a task read back out of Durable state (custom status, output, history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from durable import custom_status, snapshot_from_durable, transcript_in_history
from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput

CREATED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
TASK = TaskInput(task_id="t-1", prompt="hi", use_aoai=False, model_name="gpt-4o", owner="alice", created_at=CREATED)


def durable(runtime_status: str | None, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "instance_id": "t-1",
        "runtime_status": runtime_status,
        "input_": TASK.model_dump(mode="json"),
        "custom": None,
        "output": None,
        "created": CREATED,
        "updated": UPDATED,
    }
    values.update(fields)
    return snapshot_from_durable(**values)


def test_an_unknown_instance_is_none() -> None:
    assert durable(None) is None


def test_an_instance_this_service_did_not_start_is_none() -> None:
    assert durable("Running", input_={"something": "else"}) is None


def test_pending_and_running_follow_the_runtime_and_the_custom_status() -> None:
    assert durable("Pending").status == "pending"
    assert durable("Running").status == "running"
    assert durable("Running", custom=custom_status("running")).status == "running"


def test_input_given_back_as_json_text_is_read_too() -> None:
    snapshot = durable("Running", input_=TASK.model_dump_json())
    assert snapshot is not None and snapshot.prompt == "hi" and snapshot.owner == "alice"


def test_a_completed_orchestration_carries_its_outcome() -> None:
    outcome = RunOutcome(status="completed", final_answer="42", finished_at=UPDATED)
    snapshot = durable("Completed", output=outcome.model_dump(mode="json"))
    assert snapshot.status == "completed"
    assert snapshot.outcome == outcome
    assert snapshot.created_at == CREATED and snapshot.updated_at == UPDATED


def test_a_failed_result_is_failed() -> None:
    outcome = RunOutcome(status="failed", error="model unreachable", finished_at=UPDATED)
    assert durable("Completed", output=outcome.model_dump(mode="json")).status == "failed"


def test_a_crashed_orchestration_is_failed_and_a_terminated_one_cancelled_with_its_reason() -> None:
    crashed = durable("Failed", output="Orchestrator function 'task_orchestrator' failed: boom")
    assert crashed.status == "failed" and "boom" in crashed.outcome.error
    terminated = durable("Terminated", output="operator stopped it")  # through Durable's API or POST .../cancel
    assert terminated.status == "cancelled" and terminated.outcome.status == "cancelled"
    assert terminated.outcome.error == "operator stopped it" and terminated.outcome.stop_reason == "cancelled"
    assert durable("Terminated", output=None).outcome.error == "orchestration terminated"


def _completed(function: str, result: object) -> dict[str, object]:
    """A TaskCompleted event as the status API shows it with `showHistoryOutput`."""
    return {"EventType": "TaskCompleted", "FunctionName": function, "Result": result,
            "ScheduledTime": "2026-11-28T07:00:00.0000000Z", "Timestamp": "2026-11-28T07:00:01.0000000Z"}


def test_the_transcript_in_durables_history_is_the_last_finished_runs_result() -> None:
    def run(*contents: str) -> dict[str, object]:
        views = [MessageView(source="user", content=text, type="TextMessage") for text in contents]
        return RunOutcome(status="completed", messages=views, finished_at=UPDATED).model_dump(mode="json")

    events = [
        {"EventType": "ExecutionStarted", "FunctionName": "task_orchestrator", "Timestamp": "2026-11-28T07:00:00Z"},
        _completed("run_magentic_one_activity", run("an earlier attempt")),
        _completed("publish_event", {"status": "completed"}),
        _completed("run_magentic_one_activity", json.dumps(run("hi", "42"))),  # a host that gives the JSON text
        _completed("start_callback_delivery_activity", None),
    ]
    activities = ("run_magentic_one_activity", "record_failure_activity")
    transcript = transcript_in_history(events, activities)
    assert transcript is not None and [m.content for m in transcript] == ["hi", "42"]
    paused = {"status": "paused", "resume": {"attempt": 1, "round": 2, "slices": 2}}
    assert transcript_in_history([_completed("run_magentic_one_activity", paused)], activities) is None
    assert transcript_in_history([], activities) is None
