"""Faults injected for real, end to end: the scripted model server returns errors, drops connections
or stalls; the database file is unwritable or held locked by another process; the activity is
executed twice. Each test checks what a caller sees and what Durable state and SQLite hold."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.redaction import REDACTED, install_log_redaction
from magentic_tasks.run import ORCHESTRATOR_NAME
from magentic_tasks.settings import get_settings
from magentic_tasks.store import TaskStore
from tests.e2e.conftest import FAILURE_ACTIVITY, RUN_ACTIVITY, Harness, StartApp, as_json
from tests.support.model_server import Faults, RecordedRequest, Script, ScriptedModelServer

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)  # the request is never satisfied


def sources(result: dict[str, Any]) -> list[str]:
    return [m["source"] for m in result["result"]["messages"]]


def assert_tokens_are_the_servers(result: dict[str, Any], server: ScriptedModelServer) -> None:
    """Every token the model served, over every attempt, is reported, and the breakdown sums to it."""
    assert result["prompt_tokens"] == server.served_prompt_tokens > 0
    assert result["completion_tokens"] == server.served_completion_tokens > 0
    by_agent = result["result"]["usage_by_agent"].values()
    assert sum(u["prompt_tokens"] for u in by_agent) == result["prompt_tokens"]
    assert sum(u["completion_tokens"] for u in by_agent) == result["completion_tokens"]


# ---- the model service fails --------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 429])
async def test_a_few_model_errors_are_retried_by_the_client_and_the_task_completes(
    status: int, start_app: StartApp
) -> None:
    app = await start_app(faults=Faults(fail_first=2, status=status), MODEL_MAX_RETRIES=2)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "completed", result["error"]
    assert result["result"]["attempts"] == 1
    assert [(r.kind, r.status) for r in app.server.requests[:3]] == [
        ("facts", status),
        ("facts", status),
        ("facts", 200),
    ]
    assert_tokens_are_the_servers(result, app.server)  # failed calls cost nothing
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    app.assert_stores_agree(task_id, result)


async def test_a_model_that_always_refuses_fails_the_task_after_every_attempt(start_app: StartApp) -> None:
    app = await start_app(faults=Faults(fail_all=True, status=429), ACTIVITY_MAX_ATTEMPTS=2)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "failed"
    assert result["error"].startswith("RateLimitError:") and "429" in result["error"]
    assert "Traceback" not in result["error"] and "\n" not in result["error"]
    assert result["result"]["attempts"] == 2
    assert app.server.calls == 4  # two attempts of one call and one client retry each
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY, RUN_ACTIVITY, FAILURE_ACTIVITY]
    app.assert_stores_agree(task_id, result)


async def test_a_broken_ledger_fails_the_task_and_keeps_the_transcript_so_far(start_app: StartApp) -> None:
    app = await start_app(Script(rounds_before_satisfied=5), Faults(broken_ledger_from=1))
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "failed"
    assert "Failed to parse ledger" in result["error"] and "Traceback" not in result["error"]
    assert sources(result) == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder"]
    assert result["result"]["messages"][-1]["content"] == app.server.script.agent_reply
    assert result["result"]["task_result"]["final_answer"] is None
    assert result["result"]["attempts"] == 1  # not worth retrying
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    assert_tokens_are_the_servers(result, app.server)
    app.assert_stores_agree(task_id, result)


async def test_a_run_past_its_deadline_completes_with_a_last_answer_saying_why_it_stopped(
    start_app: StartApp,
) -> None:
    faults = Faults(latency=0.1, notice_hangups=True)  # the call the deadline cuts off is not served
    app = await start_app(UNTIL_STOPPED, faults, TASK_TIMEOUT_SECONDS=1, MAX_TURNS=100)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "completed"
    task_result = result["result"]["task_result"]
    assert (task_result["stop_reason"], task_result["error"]) == ("timeout", None)
    assert task_result["final_answer"] == UNTIL_STOPPED.final_answer
    # How far the team got in its second depends on the machine; it had begun, and its last word is the answer.
    assert sources(result)[:2] == ["user", ORCHESTRATOR_NAME]
    assert result["result"]["messages"][-1]["content"] == UNTIL_STOPPED.final_answer
    assert app.server.calls_by_kind["final_answer"] == 1
    assert 1 <= result["result"]["execution_time"] < 3
    assert result["result"]["attempts"] == 1
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    assert_tokens_are_the_servers(result, app.server)
    app.assert_stores_agree(task_id, result)


async def test_a_run_past_its_deadline_fails_with_timeout_when_no_last_answer_is_allowed(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.1), TASK_TIMEOUT_SECONDS=1, MAX_TURNS=100,
                          FINAL_ANSWER_SECONDS=0)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "failed"
    assert result["result"]["task_result"]["stop_reason"] == "timeout"
    assert "TASK_TIMEOUT_SECONDS" in result["error"]
    assert sources(result)[:4] == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder"]
    assert 1 <= result["result"]["execution_time"] < 3
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    app.assert_stores_agree(task_id, result)


async def test_a_spent_token_budget_ends_the_task_with_a_last_answer_and_every_token_counted(
    start_app: StartApp,
) -> None:
    app = await start_app(UNTIL_STOPPED, MAX_TOKENS_PER_TASK=2000, MAX_TURNS=100)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "completed"
    assert result["result"]["task_result"]["stop_reason"] == "token budget exhausted"
    assert result["result"]["task_result"]["final_answer"] == UNTIL_STOPPED.final_answer
    assert sources(result)[:4] == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder"]
    assert result["prompt_tokens"] + result["completion_tokens"] >= 2000
    assert_tokens_are_the_servers(result, app.server)
    app.assert_stores_agree(task_id, result)


async def test_a_spent_token_budget_fails_the_task_when_no_last_answer_is_allowed(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, MAX_TOKENS_PER_TASK=2000, MAX_TURNS=100, FINAL_ANSWER_SECONDS=0)
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "failed"
    assert result["result"]["task_result"]["stop_reason"] == "token budget exhausted"
    assert "MAX_TOKENS_PER_TASK=2000" in result["error"]
    assert_tokens_are_the_servers(result, app.server)
    app.assert_stores_agree(task_id, result)


class DroppingModelServer(ScriptedModelServer):
    """Closes the connection without answering the first `drops` Coder requests: a connection-level fault."""

    def __init__(self, drops: int) -> None:
        # The ledger count runs on across attempts: the second attempt's first ledger is not yet satisfied.
        super().__init__(Script(rounds_before_satisfied=2))
        self.drops_left = drops

    def start(self) -> DroppingModelServer:
        super().start()
        assert self._httpd is not None
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        return self

    def _admit(self, record: RecordedRequest) -> tuple[Faults, bool, int]:
        admitted = super()._admit(record)
        with self._lock:
            drop = record.kind == "coder" and self.drops_left > 0
            if drop:
                self.drops_left -= 1
                record.status = 0
        if drop:  # the handler thread dies: the client sees the connection close with no response
            raise ConnectionAbortedError("scripted connection drop")
        return admitted


async def test_an_attempt_that_loses_the_model_midway_is_retried_without_duplicates(start_app: StartApp) -> None:
    server = DroppingModelServer(drops=2).start()  # the Coder's call and its one client retry
    try:
        app = await start_app(server=server, MODEL_MAX_RETRIES=1)
        task_id = await app.create_task()

        result = await app.run_to_end(task_id)
    finally:
        server.stop()

    assert result["status"] == "completed", result["error"]
    assert result["result"]["attempts"] == 2
    first, second = app.host.calls_of(RUN_ACTIVITY, task_id)
    assert (first.status, second.status) == ("failed", "completed")
    assert "APIConnectionError" in str(first.error)
    assert [r.status for r in server.requests if r.kind == "coder"] == [0, 0, 200]
    # The result is the second attempt's transcript, once; SQLite keeps each attempt's apart.
    assert sources(result) == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder", ORCHESTRATOR_NAME]
    by_attempt = [(r["attempt"], r["seq"]) for r in app.db_rows("messages")]
    assert len(by_attempt) == len(set(by_attempt))
    assert sorted({attempt for attempt, _ in by_attempt}) == [1, 2]
    assert [r["source"] for r in app.db_rows("messages") if r["attempt"] == 1] == sources(result)[:3]
    # Tokens: everything served, over both attempts (the first attempt's facts, plan and ledger included).
    assert server.calls_by_kind["facts"] == 2
    assert_tokens_are_the_servers(result, server)
    app.assert_stores_agree(task_id, result)


# ---- the activity runs twice --------------------------------------------------------------------


async def test_a_redelivered_activity_returns_the_stored_result_without_calling_the_model(app: Harness) -> None:
    task_id = await app.create_task()
    result = await app.run_to_end(task_id)
    (call,) = app.host.calls_of(RUN_ACTIVITY, task_id)
    model_calls = app.server.calls
    tables = {table: app.db_rows(table) for table in ("tasks", "attempts", "messages")}

    again = await app.host.invoke_function(RUN_ACTIVITY, call.input)

    assert again == app.durable_outcome(task_id)
    assert app.server.calls == model_calls
    assert {table: app.db_rows(table) for table in tables} == tables
    assert len(tables["tasks"]) == 1 and len(tables["attempts"]) == 1
    assert as_json(await app.get_result(task_id)) == result


# ---- the SQLite mirror is unavailable -----------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
"""


@contextmanager
def locked_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds an EXCLUSIVE lock on the database file until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
        holder.communicate("release\n", timeout=10)
        assert holder.returncode == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


async def test_a_database_locked_by_another_process_does_not_stop_the_task(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The run goes on with Durable state as the record, and the timer repairs the mirror afterwards.

    The store's bounded lock retries are cut to one (of five) so every blocked write costs about
    0.1 s instead of about 2 s; the code paths are the same."""
    app = await start_app(SQLITE_BUSY_TIMEOUT_MS=20)
    store = TaskStore.from_settings(get_settings())
    assert store.integrity_check() == "ok"  # the file and its schema exist before the lock is taken
    monkeypatch.setattr(store.db, "lock_retries", 1)

    with locked_by_another_process(app.db_path), caplog.at_level(logging.WARNING, logger="magentic_tasks"):
        task_id = await app.create_task()
        await app.poll_until_finished(task_id)
        await app.host.wait_idle()
        while_locked = await app.get_result(task_id)

    assert while_locked.status_code == 200
    result = as_json(while_locked)
    assert result["status"] == "completed", result["error"]
    assert result["result"]["messages"] == app.durable_outcome(task_id)["messages"]
    assert len(result["result"]["messages"]) == 5
    assert_tokens_are_the_servers(result, app.server)
    skipped = [r.getMessage() for r in caplog.records if "database is locked" in r.getMessage()]
    assert any("mark_running" in m for m in skipped) and any("save_outcome" in m for m in skipped)
    assert app.db_rows("tasks") == []  # nothing got through to the shared file while the lock was held
    assert len(app.db_rows("messages")) == 5  # the run's own file was not locked: it streamed as ever

    await app.host.run_timer("reconcile_mirror")

    (row,) = app.db_rows("tasks")
    assert (row["task_id"], row["status"], row["final_attempt"]) == (task_id, "completed", 1)
    assert app.final_messages(task_id) == result["result"]["messages"]
    assert len(app.db_rows("messages")) == 5  # the outcome found the run's own transcript: no copy of it
    assert as_json(await app.get_result(task_id)) == result
    app.host.purge(task_id)
    assert as_json(await app.get_result(task_id)) == result  # now served by SQLite alone


async def test_an_unwritable_database_path_does_not_stop_the_task(start_app: StartApp, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("a regular file where the database's folder should be")
    app = await start_app(TASKS_DB_PATH=not_a_folder / "tasks.db")

    task_id = await app.create_task()
    status = await app.poll_until_finished(task_id)
    result = await app.run_to_end(task_id)

    assert status["status"] == "completed" and app.statuses_seen[task_id][-1] == "completed"
    assert result["status"] == "completed", result["error"]
    assert result["result"]["messages"] == app.durable_outcome(task_id)["messages"]
    assert_tokens_are_the_servers(result, app.server)
    assert not_a_folder.is_file()
    # Durable has no such task and SQLite cannot be read: it may be a purged task, so not a 404.
    assert (await app.get_status("no-such-task")).status_code == 503


# ---- secrets ------------------------------------------------------------------------------------


@contextmanager
def log_redaction_as_at_startup() -> Iterator[None]:
    """Install the app's log redaction as the worker does when it imports the app, with the
    secrets now in the environment (the test process imported the app before they were set)."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        install_log_redaction()
        yield
    finally:
        logging.setLogRecordFactory(previous)


async def test_an_api_key_echoed_by_the_model_never_leaves_the_service(
    start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    # A key that looks like nothing in particular: only the settings' own secrets can catch it.
    key = "canary-7f3a9b2c4d5e6f70a1b2"
    script = Script(rounds_before_satisfied=100, instruction=f"Use the key {key} to call the API.")
    faults = Faults(fail_all=True, fail_kinds=frozenset({"coder"}), echo_credentials=True, canary=key)
    app = await start_app(script, faults, OPENAI_API_KEY=key, MODEL_MAX_RETRIES=0, ACTIVITY_MAX_ATTEMPTS=2)

    with log_redaction_as_at_startup(), caplog.at_level(logging.DEBUG):
        task_id = await app.create_task()
        result = await app.run_to_end(task_id)
        await app.get_status(task_id)

    # The key was really sent, and really echoed back in the model's errors and instructions.
    assert {r.headers["authorization"] for r in app.server.requests} == {f"Bearer {key}"}
    assert [r.status for r in app.server.requests if r.kind == "coder"] == [500, 500]
    assert result["status"] == "failed" and REDACTED in result["error"]
    assert f"Use the key {REDACTED} to call the API." in [m["content"] for m in result["result"]["messages"]]

    responses = [
        text
        for response in app.responses
        for text in (response.get_body().decode(), json.dumps(dict(response.headers)))
    ]
    logs = [caplog.text, *(record.getMessage() for record in caplog.records)]
    rows = [json.dumps(app.db_rows(table)) for table in ("tasks", "attempts", "messages", "schema_version")]
    durable = [json.dumps(app.host.status(task_id)), json.dumps(app.host.history(task_id))]
    assert len(caplog.records) > 20
    for text in [*responses, *logs, *rows, *durable]:
        assert key not in text
