"""The activity's logic: one attempt, idempotent under re-delivery, every attempt's tokens counted.

The team is real; the model is autogen's `ReplayChatCompletionClient` answering the orchestrator's
facts, plan, ledger and final-answer calls in order (the scripted HTTP server covers the wire).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from autogen_core.models import ChatCompletionClient, CreateResult, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from magentic_tasks.errors import TaskRunError
from magentic_tasks.run import execute_task, record_failure
from magentic_tasks.schemas import STOPPED, RunOutcome, TaskInput
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore

INFO = ModelInfo(vision=False, function_calling=True, json_output=True, family="gpt-4o", structured_output=False)
TASK = TaskInput(
    task_id="task-1", prompt="What is 2+2?", use_aoai=False, model_name="gpt-4o",
    created_at=datetime(2026, 11, 25, tzinfo=UTC),
)


def ledger(satisfied: bool) -> str:
    def entry(answer: object) -> dict[str, object]:
        return {"reason": "scripted", "answer": answer}

    return json.dumps({
        "is_request_satisfied": entry(satisfied), "is_in_loop": entry(False), "is_progress_being_made": entry(True),
        "next_speaker": entry("Coder"), "instruction_or_question": entry("Compute 2+2"),
    })


def scripted_client() -> ReplayChatCompletionClient:
    return ReplayChatCompletionClient(
        ["facts", "plan", ledger(False), "2+2 is 4.", ledger(True), "The answer is 4."], model_info=INFO
    )


class FailingClient(ReplayChatCompletionClient):
    """Answers the first `ok_calls` calls, then fails the way an unreachable model service does."""

    def __init__(self, ok_calls: int) -> None:
        super().__init__(["facts", "plan", ledger(False), "2+2 is 4.", ledger(True), "x"], model_info=INFO)
        self.ok_calls = ok_calls

    async def create(self, *args: object, **kwargs: object) -> CreateResult:  # type: ignore[override]
        if self.ok_calls == 0:
            raise ConnectionError("model service unreachable")
        self.ok_calls -= 1
        return await super().create(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        OPENAI_API_KEY="sk-test-key-000000000000",
        TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"),
    )


@pytest.fixture
def store(settings: Settings) -> TaskStore:
    return TaskStore.from_settings(settings)


def usage_total(client: ChatCompletionClient) -> RequestUsage:
    return client.total_usage()


async def test_a_run_streams_its_transcript_and_records_the_result(settings: Settings, store: TaskStore) -> None:
    client = scripted_client()
    outcome = await execute_task(TASK, settings, store=store, client=client)
    assert outcome.status == "completed"
    assert outcome.final_answer == "The answer is 4."
    assert outcome.attempts == 1
    served = usage_total(client)
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (served.prompt_tokens, served.completion_tokens)
    assert set(outcome.usage_by_agent) == {"MagenticOneOrchestrator", "Coder"}
    stored = store.get_task(TASK.task_id)
    assert stored is not None and stored.status == "completed"
    assert stored.outcome is not None and stored.outcome.messages == outcome.messages
    assert [m.source for m in outcome.messages][:2] == ["user", "MagenticOneOrchestrator"]
    assert not (Path(settings.task_workspace_root) / TASK.task_id).exists()  # the workspace is cleaned up


async def test_a_redelivered_activity_does_not_run_the_team_again(settings: Settings, store: TaskStore) -> None:
    first = await execute_task(TASK, settings, store=store, client=scripted_client())
    second_client = scripted_client()
    second = await execute_task(TASK, settings, store=store, client=second_client)
    assert second == first
    assert usage_total(second_client).prompt_tokens == 0  # no model call at all
    assert store.last_attempt(TASK.task_id) == 1
    assert len(store.messages(TASK.task_id, 1)) == len(first.messages)


async def test_a_task_cancelled_before_it_ran_is_not_run_by_an_activity_delivered_after(
    settings: Settings, store: TaskStore
) -> None:
    """The cancel's outcome makes the task's own file (with no attempt in it): a first attempt reads
    no shared file, so that file is what tells a late run activity the task has an outcome."""
    cancelled = RunOutcome(status="cancelled", stop_reason=STOPPED, error="cancelled by its owner",
                           finished_at=datetime(2026, 12, 6, tzinfo=UTC))
    store.save_outcome(TASK, cancelled, None)
    assert store.task_file(TASK.task_id).is_file()
    late = scripted_client()
    outcome = await execute_task(TASK, settings, store=store, client=late)
    assert (outcome.status, outcome.error) == ("cancelled", "cancelled by its owner")
    assert usage_total(late).prompt_tokens == 0  # no model call at all
    assert store.last_attempt(TASK.task_id) is None


async def test_a_redelivered_activity_after_a_terminal_failure_does_not_run_again(
    settings: Settings, store: TaskStore
) -> None:
    broken = ReplayChatCompletionClient(["facts", "plan"] + ["not a ledger"] * 10, model_info=INFO)
    first = await execute_task(TASK, settings, store=store, client=broken)
    assert first.status == "failed" and first.error is not None and "ledger" in first.error
    again = scripted_client()
    second = await execute_task(TASK, settings, store=store, client=again)
    assert second == first
    assert usage_total(again).prompt_tokens == 0
    assert store.last_attempt(TASK.task_id) == 1


async def test_a_transient_failure_raises_for_a_retry_and_keeps_the_partial_transcript(
    settings: Settings, store: TaskStore
) -> None:
    with pytest.raises(TaskRunError, match="unreachable"):
        await execute_task(TASK, settings, store=store, client=FailingClient(ok_calls=3))
    partial = store.messages(TASK.task_id, 1)
    assert partial and partial[0].content == TASK.prompt
    assert store.get_task(TASK.task_id).status == "running"  # type: ignore[union-attr]


async def test_the_result_after_a_retry_counts_every_attempts_tokens_and_has_no_duplicates(
    settings: Settings, store: TaskStore
) -> None:
    failing = FailingClient(ok_calls=3)
    with pytest.raises(TaskRunError):
        await execute_task(TASK, settings, store=store, client=failing)
    succeeding = scripted_client()
    outcome = await execute_task(TASK, settings, store=store, client=succeeding)
    assert outcome.status == "completed" and outcome.attempts == 2
    spent = usage_total(failing).prompt_tokens + usage_total(succeeding).prompt_tokens
    assert outcome.prompt_tokens == spent
    stored = store.get_task(TASK.task_id)
    assert stored is not None and stored.outcome is not None
    assert stored.outcome.messages == outcome.messages  # the final attempt's transcript, once
    assert [m.content for m in outcome.messages].count(TASK.prompt) == 1


async def test_a_final_failure_is_recorded_with_the_last_transcript_and_all_tokens(
    settings: Settings, store: TaskStore
) -> None:
    for _ in range(2):
        with pytest.raises(TaskRunError):
            await execute_task(TASK, settings, store=store, client=FailingClient(ok_calls=3))
    outcome = await record_failure(TASK, f"ConnectionError: unreachable with {settings.secrets()[0]}", settings,
                                   store=store)
    assert outcome.status == "failed" and outcome.attempts == 2
    assert outcome.error is not None and "unreachable" in outcome.error
    assert settings.secrets()[0] not in outcome.error
    assert outcome.messages and outcome.prompt_tokens > 0
    stored = store.get_task(TASK.task_id)
    assert stored is not None and stored.status == "failed" and stored.outcome == outcome


async def test_an_unwritable_mirror_does_not_stop_the_run(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the database folder should be")
    settings = Settings(
        OPENAI_API_KEY="sk-test-key-000000000000",
        TASKS_DB_PATH=str(tmp_path / "blocked" / "tasks.db"),
        TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"),
    )
    outcome = await execute_task(TASK, settings, client=scripted_client())
    assert outcome.status == "completed" and outcome.final_answer == "The answer is 4."
    assert outcome.prompt_tokens > 0 and outcome.attempts == 1


async def test_a_lone_surrogate_from_the_model_is_stored_replaced_and_the_run_completes(
    settings: Settings, store: TaskStore
) -> None:
    client = ReplayChatCompletionClient(
        ["facts", "plan", ledger(False), "2+2 is \ud800 4.", ledger(True), "The answer is \udfff4."], model_info=INFO
    )
    outcome = await execute_task(TASK, settings, store=store, client=client)
    assert outcome.status == "completed", outcome.error
    assert outcome.final_answer == "The answer is \ufffd4."
    assert "2+2 is \ufffd 4." in [m.content for m in outcome.messages]
    json.dumps(outcome.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # Durable's JSON encodes
    stored = store.get_task(TASK.task_id)
    assert stored is not None and stored.outcome is not None
    assert stored.outcome.messages == outcome.messages
    assert stored.outcome.final_answer == outcome.final_answer


async def test_the_final_error_is_the_attempts_own_reason_not_the_hosts_wrapper(
    settings: Settings, store: TaskStore
) -> None:
    with pytest.raises(TaskRunError):
        await execute_task(TASK, settings, store=store, client=FailingClient(ok_calls=3))
    wrapped = "Activity function 'run_magentic_one_activity' failed: Result: Failure\nException: Traceback (most"
    outcome = await record_failure(TASK, wrapped, settings, store=store)
    assert outcome.error == "ConnectionError: model service unreachable"


class DefectiveStore(TaskStore):
    """A store with a bug that is not a `StoreError` where the run records its result: what a lone
    surrogate used to cause."""

    def save_outcome(
        self, task: TaskInput, outcome: RunOutcome, attempt: int | None, streamed: bool = False
    ) -> RunOutcome:
        if outcome.status == "completed":  # the run's own result
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return super().save_outcome(task, outcome, attempt, streamed)


async def test_a_defect_after_the_run_fails_the_task_with_its_reason_instead_of_a_retry(
    settings: Settings, tmp_path: Path
) -> None:
    store = DefectiveStore(tmp_path / "defective.db")
    outcome = await execute_task(TASK, settings, store=store, client=scripted_client())  # does not raise
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith("internal error: UnicodeEncodeError:")
    assert outcome.messages and outcome.messages[0].content == TASK.prompt  # the transcript is kept
    assert store.get_task(TASK.task_id) is not None and store.get_task(TASK.task_id).outcome == outcome  # type: ignore[union-attr]
