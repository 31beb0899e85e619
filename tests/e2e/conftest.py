"""The whole app in one process: its registered functions on `FakeDurableHost`, the real Durable
client talking HTTP to it, the real autogen team talking HTTP to a `ScriptedModelServer`, and the
SQLite mirror in a temporary folder.

`start_app(script, faults, provider=..., **env)` configures the environment (through monkeypatch,
with the settings cache cleared before and after), starts the host and returns a `Harness` with the
helpers the tests share: `post_task`, `get_status`, `get_result`, `poll_until_finished`, `db_rows`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import azure.functions as func
import pytest

from durable import transcript_in_history
from magentic_tasks.settings import get_settings
from tests.support.durable_host import FakeDurableHost
from tests.support.model_server import Faults, Script, ScriptedModelServer
from tests.support.openapi_check import response_problems

ROOT = Path(__file__).resolve().parents[2]
HOST_JSON = ROOT / "host.json"

Provider = Literal["openai", "azure"]
RUN_ACTIVITY = "run_magentic_one_activity"
FAILURE_ACTIVITY = "record_failure_activity"
PROMPT = "What is 6 * 7?"
OPENAI_KEY = "sk-e2e-openai-0123456789abcdef"
AZURE_KEY = "e2e-azure-key-0123456789abcdef"
PRINCIPAL = "X-MS-CLIENT-PRINCIPAL-ID"
# Real seconds slept per second of a durable timer: a 1 s activity retry interval takes 10 ms.
TIMER_SCALE = 0.01
FINAL = frozenset({"completed", "failed"})
_RANK = {"pending": 0, "running": 1, "completed": 2, "failed": 2}


def as_json(response: func.HttpResponse) -> Any:
    """The response body as JSON."""
    return json.loads(response.get_body())


@dataclass
class Harness:
    """One running app: the fake host, the scripted model, the SQLite file, every HTTP response seen."""

    host: FakeDurableHost
    server: ScriptedModelServer
    db_path: Path
    provider: Provider
    responses: list[func.HttpResponse] = field(default_factory=list)
    statuses_seen: dict[str, list[str]] = field(default_factory=dict)
    # How long a task may take to finish; a worker process pays autogen's import on its first run.
    finish_timeout: float = 8.0

    # ---- HTTP --------------------------------------------------------------------------------

    async def _http(self, target: str | tuple[str, str], **kwargs: Any) -> func.HttpResponse:
        response = await self.host.call_http(target, **kwargs)
        self.responses.append(response)
        return response

    async def post_task(
        self,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        prompt: str = PROMPT,
        model_name: str = "gpt-4o",
    ) -> func.HttpResponse:
        """`POST /tasks`; without `body`, a valid task for this harness's provider."""
        if body is None:
            body = {"prompt": prompt, "use_aoai": self.provider == "azure", "model_name": model_name}
        return await self._http(("POST", "/tasks"), body=body, headers=headers)

    async def create_task(self, *, headers: Mapping[str, str] | None = None, prompt: str = PROMPT) -> str:
        """`POST /tasks` that must be accepted; the new task's id."""
        response = await self.post_task(headers=headers, prompt=prompt)
        assert response.status_code == 202, response.get_body()
        return str(as_json(response)["task_id"])

    async def get_status(self, task_id: str, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
        """`GET /tasks/{task_id}` (the id is passed as the host passes a decoded route value)."""
        return await self._http("get_task_status", route_params={"task_id": task_id}, headers=headers)

    async def get_result(self, task_id: str, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
        """`GET /tasks/{task_id}/result`."""
        return await self._http("get_task_result", route_params={"task_id": task_id}, headers=headers)

    async def poll_until_finished(
        self,
        task_id: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Poll `GET /tasks/{id}` until the task is completed or failed; statuses may only move forward."""
        timeout = self.finish_timeout if timeout is None else timeout
        seen = self.statuses_seen.setdefault(task_id, [])
        deadline = time.monotonic() + timeout
        while True:
            response = await self.get_status(task_id, headers)
            assert response.status_code == 200, response.get_body()
            body: dict[str, Any] = as_json(response)
            status = str(body["status"])
            assert status in _RANK, body
            if seen:
                assert _RANK[status] >= _RANK[seen[-1]], f"status went back: {[*seen, status]}"
                assert seen[-1] not in FINAL or status == seen[-1], f"a final status changed: {[*seen, status]}"
            if not seen or seen[-1] != status:
                seen.append(status)
            if status in FINAL:
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {status} after {timeout} s; {seen}")
            await asyncio.sleep(0.02)

    async def run_to_end(self, task_id: str, *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Poll until finished, wait for the host to go idle, and return the 200 result body."""
        await self.poll_until_finished(task_id, headers=headers)
        await self.host.wait_idle()
        response = await self.get_result(task_id, headers)
        assert response.status_code == 200, response.get_body()
        result: dict[str, Any] = as_json(response)
        return result

    # ---- Durable state and SQLite ------------------------------------------------------------

    def durable_output(self, task_id: str) -> dict[str, Any]:
        """The orchestration's output; the instance must have completed (not failed)."""
        instance = self.host.get_instance(task_id)
        assert instance is not None, f"no instance {task_id}"
        assert instance.runtime_status == "Completed", (instance.runtime_status, instance.output)
        output: dict[str, Any] = instance.output
        return output

    def durable_outcome(self, task_id: str) -> dict[str, Any]:
        """The finished run as Durable state alone holds it: the orchestration's output, which has no
        transcript, with the transcript from the history (the run activity's result), as the
        status API shows it with `showHistoryOutput`."""
        output = self.durable_output(task_id)
        assert "messages" not in output, "the output repeats the transcript the history already holds"
        instance = self.host.get_instance(task_id)
        assert instance is not None
        events = instance.status_json(show_history=True, show_history_output=True)["historyEvents"]
        messages = transcript_in_history(events, (RUN_ACTIVITY, FAILURE_ACTIVITY)) or []
        return output | {"messages": [m.model_dump(mode="json") for m in messages]}

    def db_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of `table`, read straight from the SQLite file (read-only); [] if there is none."""
        return db_rows(self.db_path, table)

    def final_messages(self, task_id: str) -> list[dict[str, Any]]:
        """The task's transcript as SQLite holds it: the messages of its final attempt, in order."""
        (task,) = [row for row in self.db_rows("tasks") if row["task_id"] == task_id]
        rows = [
            r for r in self.db_rows("messages") if r["task_id"] == task_id and r["attempt"] == task["final_attempt"]
        ]
        return [
            {"source": r["source"], "content": r["content"], "type": r["type"]}
            for r in sorted(rows, key=lambda r: r["seq"])
        ]

    def assert_stores_agree(self, task_id: str, result: dict[str, Any]) -> None:
        """Durable state (output and history) and the SQLite row say what the result endpoint said."""
        output = self.durable_outcome(task_id)
        run = result["result"]
        assert output["status"] == result["status"] == run["task_result"]["status"]
        assert output["error"] == result["error"] == run["task_result"]["error"]
        assert output["stop_reason"] == run["task_result"]["stop_reason"]
        assert output["final_answer"] == run["task_result"]["final_answer"]
        assert (output["prompt_tokens"], output["completion_tokens"]) == (
            result["prompt_tokens"],
            result["completion_tokens"],
        )
        assert output["attempts"] == run["attempts"]
        assert output["messages"] == run["messages"]
        (row,) = [r for r in self.db_rows("tasks") if r["task_id"] == task_id]
        assert (row["status"], row["error"]) == (result["status"], result["error"])
        stored = json.loads(row["outcome_json"])
        assert {k: v for k, v in stored.items() if k != "messages"} == {
            k: v for k, v in output.items() if k != "messages"
        }
        assert self.final_messages(task_id) == run["messages"]

    def assert_nothing_created(self) -> None:
        """No orchestration instance, no activity run and no task row."""
        assert self.host.instances == {}
        assert self.host.activity_calls == []
        assert self.db_rows("tasks") == []


def db_rows(path: Path, table: str) -> list[dict[str, Any]]:
    """Every row of `table` in the mirror at `path` (opened read-only): the shared file's, then each
    task's own file's (attempts, messages, checkpoints live there); [] without file or table."""
    found: list[dict[str, Any]] = []
    for file in (path, *sorted((path.parent / "tasks").glob("*/*.db"))):
        if not file.is_file():
            continue
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
            if exists is not None:
                found += [dict(row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
        finally:
            conn.close()
    return found


def app_environment(
    model: ScriptedModelServer, tmp_path: Path, provider: Provider, env: Mapping[str, object]
) -> dict[str, object]:
    """The app settings of a test app: the model provider points at `model`, `TASKS_DB_PATH` and
    `TASK_WORKSPACE_ROOT` are under `tmp_path`, retries are few and fast; `env` overrides (None unsets)."""
    values: dict[str, object] = {
        "TASKS_DB_PATH": tmp_path / "data" / "tasks.db",
        "TASK_WORKSPACE_ROOT": tmp_path / "workspaces",
        "MODEL_MAX_RETRIES": 1,
        "MODEL_TIMEOUT_SECONDS": 10,
        "ACTIVITY_FIRST_RETRY_SECONDS": 1,
        # No WebSurfer unless a test asks for one (a machine with playwright's own Chromium would browse).
        "ENABLE_WEB_SURFER": "false",
    }
    if provider == "azure":
        values |= {"AZURE_OPENAI_ENDPOINT": model.azure_endpoint, "AZURE_OPENAI_API_KEY": AZURE_KEY}
    else:
        values |= {"OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": OPENAI_KEY}
    return values | dict(env)


def set_environment(monkeypatch: pytest.MonkeyPatch, values: Mapping[str, object]) -> None:
    """Set (or, for None, unset) each variable for this test; the settings are read afresh."""
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()


def assert_openapi_allows(harnesses: list[Harness]) -> None:
    """Every HTTP response of the test is one the OpenAPI document describes (GET /openapi.json)."""
    problems = [problem for harness in harnesses for problem in response_problems(harness.host.http_exchanges)]
    assert problems == [], "responses outside the OpenAPI document:\n" + "\n".join(problems)


class StartApp(Protocol):
    def __call__(
        self,
        script: Script | None = None,
        faults: Faults | None = None,
        *,
        provider: Provider = "openai",
        server: ScriptedModelServer | None = None,
        **env: object,
    ) -> Awaitable[Harness]: ...


@pytest.fixture(scope="session", autouse=True)
def _warm_imports() -> None:
    """Pay autogen's and the openai SDK's import cost (a few seconds) once, outside any timed run."""
    import openai
    from autogen_ext.models.openai import OpenAIChatCompletionClient  # noqa: F401

    import function_app  # noqa: F401
    import magentic_tasks.run  # noqa: F401

    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    assert client.beta.chat.completions is not None and client.chat.completions is not None


# Starts the host an app runs on, entering it into the stack (the app's settings are set by then).
HostFactory = Callable[[contextlib.AsyncExitStack], Awaitable[FakeDurableHost]]


@contextlib.asynccontextmanager
async def app_starter(
    start_model_server: Callable[..., ScriptedModelServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_host: HostFactory,
    *,
    finish_timeout: float = 8.0,
) -> AsyncIterator[StartApp]:
    """`start(script, faults, provider=, **env)` for one test: the model server, the settings in
    the environment, the host from `make_host`; every HTTP response checked against the OpenAPI
    document at the end."""
    async with app_scope() as (stack, harnesses):

        async def start(
            script: Script | None = None,
            faults: Faults | None = None,
            *,
            provider: Provider = "openai",
            server: ScriptedModelServer | None = None,
            **env: object,
        ) -> Harness:
            model = server or start_model_server(script, faults)
            values = app_environment(model, tmp_path, provider, env)
            set_environment(monkeypatch, values)
            host = await make_host(stack)
            db_path = Path(str(values["TASKS_DB_PATH"]))
            harness = Harness(host=host, server=model, db_path=db_path, provider=provider,
                              finish_timeout=finish_timeout)
            harnesses.append(harness)
            return harness

        yield start


@contextlib.asynccontextmanager
async def app_scope() -> AsyncIterator[tuple[contextlib.AsyncExitStack, list[Harness]]]:
    """What the apps of one test share: a stack their hosts are entered into, the list of their
    harnesses, settings read afresh before and after, and at the end every HTTP response they gave
    checked against the OpenAPI document."""
    harnesses: list[Harness] = []
    async with contextlib.AsyncExitStack() as stack:
        get_settings.cache_clear()
        try:
            yield stack, harnesses
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()
    assert_openapi_allows(harnesses)


@pytest.fixture
async def start_app(
    start_model_server: Callable[..., ScriptedModelServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[StartApp]:
    """Start the app against a scripted model server (`start_app(script, faults, provider=, **env)`).

    Settings come from the environment, as in Azure: the model provider points at the server,
    `TASKS_DB_PATH` / `TASK_WORKSPACE_ROOT` are under `tmp_path`, retries are few and fast.
    An `env` value of None unsets the variable."""
    import function_app

    async def in_process(stack: contextlib.AsyncExitStack) -> FakeDurableHost:
        host = FakeDurableHost(function_app.app, host_json=HOST_JSON, timer_scale=TIMER_SCALE)
        return await stack.enter_async_context(host)

    async with app_starter(start_model_server, monkeypatch, tmp_path, in_process) as start:
        yield start


@pytest.fixture
async def app(start_app: StartApp) -> Harness:
    """The app on OpenAI, the default script and no faults."""
    return await start_app()
