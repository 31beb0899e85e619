"""Two live copies of the run activity (Durable delivers at least once): one runs the team, the
other waits for it and returns what it recorded; a copy whose holder died takes over. Every token
the model served is counted once.

The team is real; the model is autogen's `ReplayChatCompletionClient`, held at a gate so that the
first copy is mid-run (holding the lease) when the second arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from autogen_core.models import CreateResult, ModelInfo
from autogen_ext.models.replay import ReplayChatCompletionClient

from magentic_tasks.run import execute_slice, execute_task
from magentic_tasks.schemas import RunPaused, TaskInput
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from tests.run.test_attempt import INFO, ledger

TASK = TaskInput(task_id="task-1", prompt="What is 2+2?", use_aoai=False, model_name="gpt-4o",
                 created_at=datetime(2026, 11, 25, tzinfo=UTC))
WAITING = "another copy of this run is live; waiting for it"  # run/_lease.py's log line
ANSWERS = ["facts", "plan", ledger(False), "2+2 is 4.", ledger(True), "The answer is 4."]


class GatedClient(ReplayChatCompletionClient):
    """The scripted answers; the call numbered `hold_at` waits until `gate` is set."""

    def __init__(self, hold_at: int | None = None, model_info: ModelInfo = INFO) -> None:
        super().__init__(list(ANSWERS), model_info=model_info)
        self.hold_at, self.calls = hold_at, 0
        self.gate, self.held = asyncio.Event(), asyncio.Event()

    async def create(self, *args: object, **kwargs: object) -> CreateResult:  # type: ignore[override]
        self.calls += 1
        if self.calls == self.hold_at:
            self.held.set()
            await self.gate.wait()
        return await super().create(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
                    TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"), RUN_LEASE_SECONDS=30)  # renewed every 5 s


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for a state (bounded only so that a broken build fails instead of hanging)."""
    give_up = time.monotonic() + 60
    while not await condition():
        assert time.monotonic() < give_up, f"never: {what}"
        await asyncio.sleep(0.01)


async def test_a_second_live_copy_waits_for_the_first_and_returns_its_result(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="magentic_tasks.run")
    store = TaskStore.from_settings(settings)
    first_client, second_client = GatedClient(hold_at=3), GatedClient()
    first = asyncio.create_task(execute_task(TASK, settings, store=store, client=first_client))
    await first_client.held.wait()  # mid-run, the lease held and renewed
    renewed = store.live_holder(TASK.task_id, time.time())
    assert renewed is not None

    second = asyncio.create_task(execute_task(TASK, settings, store=store, client=second_client))

    async def waiting() -> bool:  # the second copy has looked and found the lease held
        return WAITING in caplog.text and not second.done() and second_client.calls == 0
    await until(waiting, "the second copy waiting")
    first_client.gate.set()
    outcomes = await asyncio.gather(first, second)

    assert second_client.calls == 0  # it never ran the team
    assert outcomes[0].model_dump(exclude={"messages"}) == outcomes[1].model_dump(exclude={"messages"})
    assert outcomes[0].status == "completed" and outcomes[0].attempts == 1
    served = first_client.total_usage()
    counted = sum(u.prompt_tokens for u in outcomes[0].usage_by_agent.values())
    assert counted == served.prompt_tokens
    assert store.last_attempt(TASK.task_id) == 1  # one attempt, the first copy's
    assert store.live_holder(TASK.task_id, time.time()) is None  # let go at the end


async def test_a_copy_whose_holder_died_takes_over_once_the_lease_expires(settings: Settings) -> None:
    store = TaskStore.from_settings(settings)
    # A run that died mid-way: its attempt begun, its lease taken and never renewed again.
    assert store.begin_first_attempt(TASK, datetime.now(UTC), ("dead-run", time.time() + 0.5)) == 1
    client = GatedClient()

    outcome = await execute_task(TASK, settings, store=store, client=client)

    assert outcome.status == "completed" and client.calls == len(ANSWERS)
    assert store.last_attempt(TASK.task_id) == 2


async def test_a_second_copy_of_a_slice_whose_holder_paused_returns_the_same_point(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="magentic_tasks.run")
    settings = Settings(OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
                        TASK_WORKSPACE_ROOT=str(tmp_path / "workspaces"), SLICE_SECONDS=0.001, RUN_LEASE_SECONDS=30)
    store = TaskStore.from_settings(settings)
    first_client, second_client = GatedClient(hold_at=3), GatedClient()
    first = asyncio.create_task(execute_slice(TASK, settings, store=store, client=first_client))
    await first_client.held.wait()
    second = asyncio.create_task(execute_slice(TASK, settings, store=store, client=second_client))

    async def waiting() -> bool:
        return WAITING in caplog.text and not second.done() and second_client.calls == 0
    await until(waiting, "the second copy waiting")
    first_client.gate.set()
    paused, standing_down = await asyncio.gather(first, second)

    assert isinstance(paused, RunPaused) and isinstance(standing_down, RunPaused)
    assert standing_down.resume == paused.resume  # where the next slice goes on, as the holder said
    assert second_client.calls == 0 and store.last_attempt(TASK.task_id) == 1
