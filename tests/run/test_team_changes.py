"""A run resumed after the settings changed the team (`CODE_EXECUTOR`) between two of its slices."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from magentic_tasks.run import execute_slice
from magentic_tasks.schemas import RunOutcome, RunPaused
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from tests.run.test_attempt import INFO, TASK, ledger

FIRST_SLICE = ["facts", "plan", ledger(False), "2+2 is 4."]  # facts, plan, one round; then the slice is used
REST = [ledger(True), "The answer is 4."]


def settings_with(tmp_path: Path, executor: str, slice_seconds: float = 60) -> Settings:
    return Settings(
        OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"), CODE_EXECUTOR=executor, SLICE_SECONDS=slice_seconds,
    )


async def first_slice(tmp_path: Path, executor: str) -> RunPaused:
    paused = await execute_slice(TASK, settings_with(tmp_path, executor, slice_seconds=0.001),
                                 client=ReplayChatCompletionClient(FIRST_SLICE, model_info=INFO))
    assert isinstance(paused, RunPaused) and paused.resume.round == 1
    return paused


async def test_a_terminal_added_between_slices_stays_out_of_the_resumed_run(tmp_path: Path) -> None:
    paused = await first_slice(tmp_path, "none")
    client = ReplayChatCompletionClient(REST, model_info=INFO)

    outcome = await execute_slice(TASK.model_copy(update={"resume": paused.resume}), settings_with(tmp_path, "local"),
                                  client=client)

    assert isinstance(outcome, RunOutcome) and outcome.status == "completed", outcome.error
    assert outcome.attempts == 1 and outcome.final_answer == "The answer is 4."
    assert [m.source for m in outcome.messages].count("ComputerTerminal") == 0


async def test_a_terminal_removed_between_slices_starts_the_run_over_with_the_team_there_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paused = await first_slice(tmp_path, "local")
    client = ReplayChatCompletionClient([*FIRST_SLICE[:3], "2+2 is 4.", *REST], model_info=INFO)

    with caplog.at_level(logging.WARNING, logger="magentic_tasks.run"):
        outcome = await execute_slice(TASK.model_copy(update={"resume": paused.resume}),
                                      settings_with(tmp_path, "none"), client=client)

    assert isinstance(outcome, RunOutcome) and outcome.status == "completed", outcome.error
    assert outcome.attempts == 2 and outcome.final_answer == "The answer is 4."
    (reason,) = [r.getMessage() for r in caplog.records if "starts over" in r.getMessage()]
    assert "ComputerTerminal" in reason and TASK.task_id in reason
    store = TaskStore.from_settings(settings_with(tmp_path, "none"))
    (first, second) = sorted(store.attempt_usage(TASK.task_id).items())
    assert first[0] == 1 and second[0] == 2  # the first attempt's tokens still count
    assert store.attempt_error(TASK.task_id, 1) == (
        "the team changed since its checkpoint: the run started over in a new attempt")
