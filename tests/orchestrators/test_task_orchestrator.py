"""The task orchestrator, replayed through the SDK's own entry point on hand-built histories.

`handle(context_json)` is what the Python worker calls with the history the Durable extension
sends; it answers with the orchestrator's state: its pending actions, custom status and output.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

import orchestrators
from durable import FAILURE_ACTIVITY, RUN_ACTIVITY
from durable import TASK_ORCHESTRATOR as ORCHESTRATOR_NAME
from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput
from orchestrators.task_orchestrator import failure_reason

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TASK = TaskInput(
    task_id="task-1", prompt="What is 2+2?", use_aoai=False, model_name="gpt-4o", created_at=T0,
    max_attempts=3, first_retry_ms=5000,
)
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY = 0, 1  # the SDK's ActionType values


def handle() -> Any:
    (builder,) = (b for b in orchestrators.bp._function_builders if b.build().get_function_name() == ORCHESTRATOR_NAME)
    return builder.build().get_user_function()


class History:
    """A Durable history as the extension sends it: events with EventType, EventId, IsPlayed, Timestamp."""

    def __init__(self, task: TaskInput = TASK) -> None:
        self.input = json.dumps(task.model_dump(mode="json"))
        self.now = T0
        self.events: list[dict[str, Any]] = []
        self.add(HistoryEventType.ORCHESTRATOR_STARTED)
        self.add(HistoryEventType.EXECUTION_STARTED, Name=ORCHESTRATOR_NAME, Version="", Input=self.input)

    def add(self, kind: HistoryEventType, event_id: int = -1, **fields: Any) -> History:
        self.now += timedelta(seconds=1)
        self.events.append(
            {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
             "Timestamp": self.now.isoformat().replace("+00:00", "Z"), **fields}
        )
        return self

    def new_episode(self) -> History:
        for event in self.events:
            event["IsPlayed"] = True
        self.add(HistoryEventType.ORCHESTRATOR_COMPLETED)
        return self.add(HistoryEventType.ORCHESTRATOR_STARTED)

    def scheduled(self, event_id: int, name: str, payload: Any) -> History:
        return self.add(HistoryEventType.TASK_SCHEDULED, event_id, Name=name, Input=json.dumps(payload))

    def completed(self, scheduled_id: int, result: Any) -> History:
        return self.add(HistoryEventType.TASK_COMPLETED, TaskScheduledId=scheduled_id, Result=json.dumps(result))

    def failed(self, scheduled_id: int, reason: str) -> History:
        return self.add(HistoryEventType.TASK_FAILED, TaskScheduledId=scheduled_id, Reason=reason, Details="stack")

    def retry_timer(self, event_id: int) -> History:
        fire_at = (self.now + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
        self.add(HistoryEventType.TIMER_CREATED, event_id, FireAt=fire_at)
        return self.new_episode().add(HistoryEventType.TIMER_FIRED, TimerId=event_id, FireAt=fire_at)

    def replay(self) -> dict[str, Any]:
        context = {"history": self.events, "input": self.input, "instanceId": TASK.task_id, "isReplaying": False,
                   "parentInstanceId": None, "upperSchemaVersion": 1, "upperSchemaVersionNew": 3}
        return json.loads(handle()(json.dumps(context)))


def actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The leaf actions, in order (the SDK wraps a call with retry in a compound action)."""
    leaves: list[dict[str, Any]] = []

    def visit(action: dict[str, Any]) -> None:
        if action.get("compoundActions"):
            for inner in action["compoundActions"]:
                visit(inner)
        else:
            leaves.append(action)

    for group in state["actions"]:
        for action in group:
            visit(action)
    return leaves


def every_attempt_fails(reason: str, attempts: int = 3) -> History:
    """Attempts at ids 0, 2, 4…, each failure followed by the host's retry timer (the last one too)."""
    history = History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().failed(0, reason)
    for attempt in range(1, attempts):
        history.retry_timer(2 * attempt - 1).scheduled(2 * attempt, RUN_ACTIVITY, PAYLOAD)
        history.new_episode().failed(2 * attempt, reason)
    return history.retry_timer(2 * attempts - 1)


def outcome(status: str = "completed", **fields: Any) -> dict[str, Any]:
    return RunOutcome(status=status, finished_at=T0, **fields).model_dump(mode="json")  # type: ignore[arg-type]


PAYLOAD = TASK.model_dump(mode="json")


def test_the_first_episode_marks_the_task_running_and_schedules_the_team_with_retries() -> None:
    state = History().replay()
    assert state["isDone"] is False
    assert state["customStatus"] == {"status": "running"}
    (action,) = actions(state)
    assert action["actionType"] == CALL_ACTIVITY_WITH_RETRY
    assert action["functionName"] == RUN_ACTIVITY
    assert json.loads(action["input"]) == PAYLOAD
    assert action["retryOptions"] == {"firstRetryIntervalInMilliseconds": 5000, "maxNumberOfAttempts": 3}


def test_a_completed_run_completes_the_task_with_its_outcome_whose_transcript_stays_in_the_history() -> None:
    transcript = [MessageView(source="user", content="What is 2+2?", type="TextMessage").model_dump(mode="json")]
    result = outcome(final_answer="4", prompt_tokens=10, completion_tokens=2, messages=transcript)
    history = History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().completed(0, result)
    state = history.replay()
    assert state["isDone"] is True
    assert state["customStatus"] == {"status": "completed"}
    # Durable keeps the transcript once, as the activity's result; the output (stored twice) has none.
    assert state["output"] == {key: value for key, value in result.items() if key != "messages"}


def test_a_run_that_ended_failed_without_retry_is_a_failed_task() -> None:
    result = outcome("failed", error="timed out after 540 s", stop_reason="timeout")
    state = History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().completed(0, result).replay()
    assert state["isDone"] is True
    assert state["customStatus"] == {"status": "failed"}
    assert state["output"]["error"] == "timed out after 540 s"


def test_a_failed_attempt_is_retried_after_the_interval_then_succeeds() -> None:
    reason = "Activity function 'run_magentic_one_activity' failed: TaskRunError: APIConnectionError: Connection error."
    history = (
        History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().failed(0, reason)
        .retry_timer(1).scheduled(2, RUN_ACTIVITY, PAYLOAD)
    )
    state = history.replay()
    assert state["isDone"] is False
    assert state["customStatus"] == {"status": "running"}

    state = history.new_episode().completed(2, outcome(final_answer="4", attempts=2)).replay()
    assert state["isDone"] is True
    assert state["output"]["status"] == "completed" and state["output"]["attempts"] == 2


def test_when_every_attempt_fails_the_failure_is_recorded_not_raised() -> None:
    reason = "Activity function 'run_magentic_one_activity' failed: TaskRunError: InternalServerError: Error code: 500"
    history = every_attempt_fails(reason)
    state = history.replay()
    assert state["isDone"] is False
    (action,) = actions(state)[-1:]
    assert action["actionType"] == CALL_ACTIVITY
    assert action["functionName"] == FAILURE_ACTIVITY
    assert json.loads(action["input"]) == {"task": PAYLOAD, "error": "InternalServerError: Error code: 500"}

    recorded = outcome("failed", error="InternalServerError: Error code: 500", attempts=3)
    history.scheduled(6, FAILURE_ACTIVITY, {}).new_episode().completed(6, recorded)
    state = history.replay()
    assert state["isDone"] is True
    assert state["customStatus"] == {"status": "failed"}
    assert state["output"] == {key: value for key, value in recorded.items() if key != "messages"}


def test_even_a_failing_failure_record_ends_in_a_failed_result() -> None:
    reason = "Activity function 'run_magentic_one_activity' failed: TaskRunError: boom"
    history = every_attempt_fails(reason)
    history.scheduled(6, FAILURE_ACTIVITY, {}).new_episode().failed(6, "Activity function failed: OSError: disk")
    state = history.replay()
    assert state["isDone"] is True
    assert state["customStatus"] == {"status": "failed"}
    output = RunOutcome.model_validate(state["output"])
    assert output.status == "failed" and output.error is not None
    assert output.error.startswith("boom (and recording the failure failed")
    assert T0 < output.finished_at <= history.now  # the replay clock, not the wall clock


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        ("Activity function 'x' failed: TaskRunError: RateLimitError: slow down \n {\"stack\": 1}",
         "RateLimitError: slow down"),
        ("Activity function 'x' failed: ValueError: bad \n trace", "Activity function 'x' failed: ValueError: bad"),
        ("", "Exception"),
    ],
)
def test_failure_reasons_drop_the_durable_wrapping_and_stack(raised: str, reason: str) -> None:
    assert failure_reason(Exception(raised)) == reason


def test_a_paused_slice_continues_as_new_with_where_the_run_goes_on() -> None:
    paused = {"status": "paused", "resume": {"attempt": 1, "round": 4, "slices": 2}}
    state = History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().completed(0, paused).replay()

    assert state["isDone"] is True
    (action,) = actions(state)[-1:]
    assert action["actionType"] == 4  # ContinueAsNew: the next slice starts with an empty history
    following = TaskInput.model_validate(action["input"] if isinstance(action["input"], dict)
                                         else json.loads(action["input"]))
    assert following == TASK.model_copy(update={"resume": following.resume})
    assert following.resume is not None and following.resume.model_dump() == paused["resume"]
    assert state["customStatus"] == {"status": "running"}  # a paused run is still running


def test_the_next_slice_passes_its_resume_point_to_the_run_activity() -> None:
    resumed = TaskInput.model_validate({**PAYLOAD, "resume": {"attempt": 1, "round": 4, "slices": 2}})
    state = History(resumed).replay()

    (action,) = actions(state)
    assert action["functionName"] == RUN_ACTIVITY
    sent = action["input"] if isinstance(action["input"], dict) else json.loads(action["input"])
    assert sent["resume"] == {"attempt": 1, "round": 4, "slices": 2}


REVIEW = {"status": "paused", "resume": {"attempt": 1, "round": 0, "slices": 2},
          "review": {"facts": "F", "plan": "P", "timeout_seconds": 3600}}


def test_a_plan_for_review_waits_for_input_or_its_timer_without_an_activity() -> None:
    state = History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().completed(0, REVIEW).replay()

    assert state["isDone"] is False
    assert state["customStatus"] == {"status": "awaiting_input", "plan": "P"}
    kinds = sorted(action["actionType"] for action in actions(state)[1:])
    assert kinds == [5, 6]  # CreateTimer (an hour from now) and WaitForExternalEvent, nothing else


def reviewed(body: Any) -> dict[str, Any]:
    fire_at = (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    history = (History().scheduled(0, RUN_ACTIVITY, PAYLOAD).new_episode().completed(0, REVIEW)
               .add(HistoryEventType.TIMER_CREATED, 1, FireAt=fire_at).new_episode())
    if body is None:
        history.add(HistoryEventType.TIMER_FIRED, TimerId=1, FireAt=fire_at)
    else:
        history.add(HistoryEventType.EVENT_RAISED, Name="plan_input", Input=json.dumps(body))
    state = history.replay()
    assert state["isDone"] is True
    (action,) = actions(state)[-1:]
    assert action["actionType"] == 4  # ContinueAsNew
    following = action["input"] if isinstance(action["input"], dict) else json.loads(action["input"])
    assert following["resume"] == REVIEW["resume"]
    assert state["customStatus"] == {"status": "running"}
    return following["review_decision"]  # type: ignore[no-any-return]


def test_the_reviewers_input_or_the_timer_goes_to_the_next_slice() -> None:
    assert reviewed({"action": "approve"}) == {"action": "approve", "plan": None}
    assert reviewed({"action": "revise", "plan": "mine"}) == {"action": "revise", "plan": "mine"}
    assert reviewed({"action": "reject"}) == {"action": "reject", "plan": None}
    assert reviewed({"action": "nonsense"}) == {"action": "reject", "plan": None}  # not from the service
    assert reviewed(None) == {"action": "expired", "plan": None}
