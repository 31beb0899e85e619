"""Final outcomes in the mirror: the first one written wins, and any text can be stored and read back."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magentic_tasks.schemas import MessageView, RunOutcome, TaskInput, TokenUsage
from magentic_tasks.store import TaskStore
from magentic_tasks.text import storable

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
# Any Python string. hypothesis' st.text() leaves out surrogates (category Cs), and a uniform
# alphabet would almost never draw one: mix them in explicitly (pairs and lone ones both occur).
ANY_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))).map("".join)


def make_task(task_id: str = "task-1", prompt: str = "a prompt") -> TaskInput:
    return TaskInput(task_id=task_id, prompt=prompt, use_aoai=False, model_name="gpt-4o", created_at=T0)


def outcome(status: str, answer: str, tokens: int, messages: list[MessageView] | None = None) -> RunOutcome:
    return RunOutcome.model_validate({
        "status": status, "final_answer": answer, "prompt_tokens": tokens, "messages": messages or [],
        "finished_at": T0 + timedelta(minutes=tokens),
    })


def test_the_first_outcome_written_wins_and_every_writer_gets_it_back(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    a, b = store.begin_attempt(task, T0), store.begin_attempt(task, T0)
    store.append_messages(task.task_id, a, 0, [MessageView(source="s", content="from a", type="t")])
    store.append_messages(task.task_id, b, 0, [MessageView(source="s", content="from b", type="t")])
    first = store.save_outcome(task, outcome("completed", "A", 10), a)
    second = store.save_outcome(task, outcome("failed", "B", 20), b)
    assert second == first
    assert (first.final_answer, first.prompt_tokens, [m.content for m in first.messages]) == ("A", 10, ["from a"])
    stored = store.get_task(task.task_id)
    assert stored is not None and stored.status == "completed" and stored.outcome == first


def test_concurrent_writers_all_get_the_same_outcome(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    results: list[RunOutcome] = []
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        attempt = store.begin_attempt(task, T0)
        barrier.wait()
        results.append(store.save_outcome(task, outcome("completed", f"answer {n}", n + 1), attempt))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(result == results[0] for result in results)
    stored = store.get_task(task.task_id)
    assert stored is not None and stored.outcome == results[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT, source=ANY_TEXT, prompt=ANY_TEXT.filter(bool))
def test_any_text_is_stored_and_read_back_in_both_stores(tmp_path: Path, text: str, source: str, prompt: str) -> None:
    """Surrogates included: nothing raises, and what is read back is the
    text itself, or the text with each lone surrogate replaced by U+FFFD."""
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task(f"t{abs(hash((text, source, prompt))) % 10**12}", prompt)
    attempt = store.begin_attempt(task, T0)
    views = [MessageView(source=source, content=text, type=text)]
    store.append_messages(task.task_id, attempt, 0, views)
    # Agent names (usage keys) are the team's own, never model text.
    store.finish_attempt(task.task_id, attempt, T0, {"Coder": TokenUsage(prompt_tokens=1)}, text)
    result = RunOutcome(status="failed", messages=views, final_answer=text, error=text, stop_reason=text,
                        usage_by_agent={"Coder": TokenUsage(prompt_tokens=1)}, finished_at=T0)
    held = store.save_outcome(task, result, attempt)
    expected = [MessageView(source=storable(source), content=storable(text), type=storable(text))]
    assert held.messages == expected
    assert (held.final_answer, held.error, held.stop_reason) == (storable(text),) * 3
    assert held.usage_by_agent == {"Coder": TokenUsage(prompt_tokens=1)}
    stored = store.get_task(task.task_id)
    assert stored is not None and stored.prompt == storable(prompt) and stored.outcome == held
    assert store.messages(task.task_id, attempt) == expected
    if text == storable(text):
        assert held.final_answer == text  # text without surrogates is stored exactly
    # Durable state: the activity's output goes through JSON (the worker's converter) and back.
    durable = RunOutcome.model_validate(json.loads(json.dumps(held.model_dump(mode="json"))))
    assert durable == held
    json.dumps(held.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # encodable as UTF-8 too


def test_a_termination_copied_from_durable_is_completed_by_the_stopped_runs_own_record(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    attempt = store.begin_attempt(task, T0)
    store.append_messages(task.task_id, attempt, 0, [MessageView(source="s", content="so far", type="t")])
    copied = RunOutcome(status="cancelled", stop_reason="cancelled", error="operator", finished_at=T0)
    assert store.save_outcome(task, copied, None) == copied  # the read path got there first
    own = RunOutcome(status="cancelled", stop_reason="cancelled", error="operator",
                     prompt_tokens=9, finished_at=T0, messages=[MessageView(source="s", content="so far", type="t")])
    assert store.save_outcome(task, own, attempt) == own
    late = outcome("completed", "too late", 3)
    assert store.save_outcome(task, late, attempt) == own  # any other outcome still loses


def test_a_final_outcome_closes_an_attempt_paused_between_slices_but_not_one_a_run_holds(tmp_path: Path) -> None:
    from magentic_tasks.store import Checkpoint

    store = TaskStore(tmp_path / "tasks.db")
    task = make_task()
    paused, held = store.begin_attempt(task, T0), store.begin_attempt(task, T0)
    for attempt, holder in ((paused, None), (held, "a-running-slice")):
        store.save_checkpoint(Checkpoint(
            task_id=task.task_id, attempt=attempt, round=1, messages=0, state={}, usage_by_agent={}, elapsed=1.0,
            deadline=T0 + timedelta(hours=1), held_by=holder, saved_at=T0), {})
    assert store.attempt_open(task.task_id, T0 - timedelta(seconds=1))

    cancelled = RunOutcome(status="cancelled", stop_reason="cancelled", error="cancel", finished_at=T0)
    store.save_outcome(task, cancelled, None)

    # The paused attempt (its checkpoint released: no activity runs it) is over; the held one runs on
    # and ends itself.
    assert store.attempt_open(task.task_id, T0 - timedelta(seconds=1))
    store.finish_attempt(task.task_id, held, T0, {}, None)
    assert not store.attempt_open(task.task_id, T0 - timedelta(seconds=1))
