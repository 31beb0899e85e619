"""The announcement orchestration of a terminated task, replayed through the SDK's own entry point."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

import orchestrators
from durable import ANNOUNCE_ORCHESTRATOR, ANNOUNCEMENT_ACTIVITY, START_CALLBACK_ACTIVITY, publish_activity
from magentic_tasks.schemas import RunOutcome, TaskInput
from tests.orchestrators.test_task_orchestrator import actions

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TASK = TaskInput(task_id="task-1", prompt="p", use_aoai=False, model_name="gpt-4o", created_at=T0,
                 event_sinks=("queue",), callback_url="https://hooks.example.com/t")
OUTCOME = RunOutcome(status="cancelled", stop_reason="cancelled", prompt_tokens=7, finished_at=T0)
CALL_ACTIVITY, TIMER = 0, 5  # the SDK's ActionType values


def handle() -> Any:
    (builder,) = (b for b in orchestrators.announcements.bp._function_builders
                  if b.build().get_function_name() == ANNOUNCE_ORCHESTRATOR)
    return builder.build().get_user_function()


class History:
    def __init__(self) -> None:
        self.now = T0
        self.events: list[dict[str, Any]] = []
        self.add(HistoryEventType.ORCHESTRATOR_STARTED)
        self.add(HistoryEventType.EXECUTION_STARTED, Name=ANNOUNCE_ORCHESTRATOR, Version="", Input=json.dumps("task-1"))

    def add(self, kind: HistoryEventType, event_id: int = -1, **fields: Any) -> History:
        self.now += timedelta(seconds=1)
        self.events.append({"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
                            "Timestamp": self.now.isoformat().replace("+00:00", "Z"), **fields})
        return self

    def answered(self, event_id: int, answer: dict[str, Any]) -> History:
        self.add(HistoryEventType.TASK_SCHEDULED, event_id, Name=ANNOUNCEMENT_ACTIVITY, Input=json.dumps("task-1"))
        self.add(HistoryEventType.ORCHESTRATOR_COMPLETED).add(HistoryEventType.ORCHESTRATOR_STARTED)
        return self.add(HistoryEventType.TASK_COMPLETED, TaskScheduledId=event_id, Result=json.dumps(answer))

    def timer_fired(self, event_id: int) -> History:
        fire_at = (self.now + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        self.add(HistoryEventType.TIMER_CREATED, event_id, FireAt=fire_at)
        self.add(HistoryEventType.ORCHESTRATOR_COMPLETED).add(HistoryEventType.ORCHESTRATOR_STARTED)
        return self.add(HistoryEventType.TIMER_FIRED, TimerId=event_id, FireAt=fire_at)

    def replay(self) -> dict[str, Any]:
        context = {"history": self.events, "input": json.dumps("task-1"), "instanceId": "task-1:announce",
                   "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 1, "upperSchemaVersionNew": 3}
        return json.loads(handle()(json.dumps(context)))


def ready(state: str = "announce") -> dict[str, Any]:
    return {"state": state, "task": TASK.model_dump(mode="json"), "outcome": OUTCOME.model_dump(mode="json")}


def test_it_first_asks_what_to_announce() -> None:
    (action,) = actions(History().replay())
    assert (action["actionType"], action["functionName"], json.loads(action["input"])) == (
        CALL_ACTIVITY, ANNOUNCEMENT_ACTIVITY, "task-1")


def test_while_the_run_is_stopping_it_waits_on_a_timer_and_asks_again() -> None:
    waiting = History().answered(0, ready("wait")).replay()
    assert [a["actionType"] for a in actions(waiting)] == [CALL_ACTIVITY, TIMER]
    again = History().answered(0, ready("wait")).timer_fired(1).replay()
    assert [a.get("functionName") for a in actions(again)] == [ANNOUNCEMENT_ACTIVITY, None, ANNOUNCEMENT_ACTIVITY]


def test_a_settled_outcome_goes_to_every_sink_and_the_callback_with_the_usual_event() -> None:
    history = History().answered(0, ready())
    (published,) = actions(history.replay())[1:]
    assert published["functionName"] == publish_activity("queue")
    event = json.loads(published["input"])
    assert (event["type"], event["data"]["prompt_tokens"]) == ("magentic.task.cancelled", 7)
    history.add(HistoryEventType.TASK_SCHEDULED, 1, Name=publish_activity("queue"), Input=published["input"])
    history.add(HistoryEventType.ORCHESTRATOR_COMPLETED).add(HistoryEventType.ORCHESTRATOR_STARTED)
    history.add(HistoryEventType.TASK_COMPLETED, TaskScheduledId=1, Result=json.dumps(event["id"]))
    state = history.replay()
    callback = actions(state)[-1]
    assert callback["functionName"] == START_CALLBACK_ACTIVITY
    assert json.loads(callback["input"])["event"] == event


def test_nothing_is_announced_for_a_task_that_announced_itself_or_is_gone() -> None:
    state = History().answered(0, {"state": "done", "task": None, "outcome": None}).replay()
    assert state["isDone"] is True and state["output"] == {"announced": None}
