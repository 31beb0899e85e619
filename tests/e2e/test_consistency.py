"""Durable state and the SQLite mirror agree when the run activity is doubled or its orchestration
terminated, end to end: real activities through the fake host, the scripted model over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import RUN_ACTIVITY, StartApp
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


async def test_two_concurrent_copies_of_the_run_activity_end_with_one_outcome_in_both_stores(
    start_app: StartApp,
) -> None:
    app = await start_app(Script(rounds_before_satisfied=2), Faults(latency=0.05))
    task_id = await app.create_task()
    await app.host.wait_until(lambda: bool(app.host.calls_of(RUN_ACTIVITY, task_id)), 5.0, "the first copy")
    (first,) = app.host.calls_of(RUN_ACTIVITY, task_id)

    # The host runs a second copy while the first is still running (it presumed a worker dead).
    second: dict[str, Any] = await app.host.invoke_function(RUN_ACTIVITY, first.input)
    result = await app.run_to_end(task_id)

    attempts = [row for row in app.db_rows("attempts") if row["task_id"] == task_id]
    assert len(attempts) == 2 and all(row["finished_at"] for row in attempts)  # both copies ran the team
    assert second == app.durable_output(task_id)  # whichever copy Durable kept, it holds the same outcome
    app.assert_stores_agree(task_id, result)
    (row,) = [r for r in app.db_rows("tasks") if r["task_id"] == task_id]
    winner = min(attempts, key=lambda a: a["finished_at"])
    assert row["final_attempt"] == winner["attempt"]  # the first to finish decided
    stored = json.loads(row["outcome_json"])
    assert stored["attempts"] == second["attempts"] and stored["prompt_tokens"] == second["prompt_tokens"]
    for attempt in attempts:  # each copy streamed its own transcript: no interleaving, no duplicates
        seqs = [m["seq"] for m in app.db_rows("messages") if m["attempt"] == attempt["attempt"]]
        assert sorted(seqs) == list(range(len(seqs)))
    contents = [m["content"] for m in result["result"]["messages"]]
    assert contents.count(contents[0]) == 1  # the prompt, once
