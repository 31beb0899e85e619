"""`settle`: which of Durable state's and SQLite's views of a finished task is served."""

from __future__ import annotations

from datetime import timedelta

from magentic_tasks.schemas import MessageView, RunOutcome, TaskSnapshot
from magentic_tasks.service import settle
from tests.durable.test_codec import CREATED, UPDATED, durable


def mirrored(outcome: RunOutcome) -> TaskSnapshot:
    return TaskSnapshot(task_id="t-1", status=outcome.status, prompt="hi", use_aoai=False, model_name="gpt-4o",
                        owner="alice", created_at=CREATED, updated_at=outcome.finished_at, outcome=outcome)


def test_a_result_recorded_before_the_termination_stands() -> None:
    terminated = durable("Terminated", output="operator stopped it")  # ended at UPDATED (whole seconds)
    assert terminated.outcome.stop_reason == "cancelled"
    done = RunOutcome(status="completed", final_answer="42", finished_at=UPDATED + timedelta(milliseconds=700))
    served = settle(terminated, mirrored(done))
    assert served is not None and served.status == "completed" and served.outcome == done


def test_a_result_recorded_after_the_termination_loses_to_it() -> None:
    terminated = durable("Terminated", output="operator stopped it")
    late = RunOutcome(status="completed", final_answer="42", messages=[MessageView(source="a", content="x", type="t")],
                      finished_at=UPDATED + timedelta(seconds=3))
    served = settle(terminated, mirrored(late))
    assert served is not None and served.status == "cancelled" and served.outcome is not None
    assert served.outcome.error == "operator stopped it" and served.outcome.messages == late.messages


def test_the_stopped_runs_own_record_of_the_termination_is_served() -> None:
    terminated = durable("Terminated", output="operator stopped it")
    stopped = RunOutcome(status="cancelled", stop_reason="cancelled", error="operator stopped it",
                         prompt_tokens=7, finished_at=UPDATED + timedelta(seconds=4))
    served = settle(terminated, mirrored(stopped))
    assert served is not None and served.status == "cancelled" and served.outcome == stopped


def test_durable_state_is_authoritative_otherwise() -> None:
    outcome = RunOutcome(status="completed", final_answer="42", finished_at=UPDATED)
    completed = durable("Completed", output=outcome.model_dump(mode="json"))
    other = RunOutcome(status="failed", error="x", finished_at=UPDATED)
    assert settle(completed, mirrored(other)) == completed
    assert settle(None, mirrored(other)) == mirrored(other)
    assert settle(completed, None) == completed
