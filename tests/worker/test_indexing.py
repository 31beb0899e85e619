"""The app as the Functions host gets it from the Python worker: init, metadata, one load per function.

If any function fails the worker's checks, indexing of the whole app fails and the host has no
functions at all; these tests run the worker's own indexing and validation code to prove it does not.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.worker_host import ROOT, FunctionsWorker, WorkerError

CLIENT = {"direction": "IN", "type": "durableClient", "name": "client"}
RETURN_HTTP = {"direction": "OUT", "type": "http", "name": "$return"}


def http(route: str, method: str, auth: str) -> tuple[dict[str, Any], ...]:
    trigger = {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": [method], "authLevel": auth,
               "route": route}
    return (CLIENT, trigger, RETURN_HTTP)


def expected_functions(auth: str) -> dict[str, tuple[dict[str, Any], ...]]:
    """Every function of the app with exactly its bindings, as the worker reports them to the host."""
    return {
        "create_task": http("tasks", "POST", auth),
        "get_task_status": http("tasks/{task_id}", "GET", auth),
        "get_task_result": http("tasks/{task_id}/result", "GET", auth),
        "list_tasks": http("tasks", "GET", auth),
        "delete_task": http("tasks/{task_id}", "DELETE", auth),
        "cancel_task": http("tasks/{task_id}/cancel", "POST", auth),
        "get_task_messages": http("tasks/{task_id}/messages", "GET", auth),
        "submit_task_input": http("tasks/{task_id}/input", "POST", auth),
        "list_task_files": http("tasks/{task_id}/files", "GET", auth),
        "get_task_file": http("tasks/{task_id}/files/{*name}", "GET", auth),
        "get_openapi": http("openapi.json", "GET", auth)[1:],  # no durable client
        # The console's static files: anonymous whatever HTTP_AUTH_LEVEL says (starters/console.py).
        "console_page": http("console", "GET", "ANONYMOUS")[1:],
        "console_asset": http("console/{*asset}", "GET", "ANONYMOUS")[1:],
        "apply_retention": (
            CLIENT,
            {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 30 3 * * *",
             "runOnStartup": False},
        ),
        "enqueue_task": (
            CLIENT,
            {"direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "magentic-tasks",
             "connection": "AzureWebJobsStorage"},
        ),
        "reconcile_mirror": (
            CLIENT,
            {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 */15 * * * *",
             "runOnStartup": False},
        ),
        "task_orchestrator": (
            {"direction": "IN", "type": "orchestrationTrigger", "name": "context",
             "orchestration": "task_orchestrator"},
        ),
        "run_magentic_one_activity": (
            {"direction": "IN", "type": "activityTrigger", "name": "payload", "activity": "run_magentic_one_activity"},
            CLIENT,  # to notice that its orchestration was terminated while it runs
        ),
        "callback_orchestrator": (
            {"direction": "IN", "type": "orchestrationTrigger", "name": "context",
             "orchestration": "callback_orchestrator"},
        ),
        "start_callback_delivery_activity": (
            {"direction": "IN", "type": "activityTrigger", "name": "payload",
             "activity": "start_callback_delivery_activity"},
            CLIENT,
        ),
        "deliver_callback_activity": (
            {"direction": "IN", "type": "activityTrigger", "name": "payload", "activity": "deliver_callback_activity"},
        ),
        "record_failure_activity": (
            {"direction": "IN", "type": "activityTrigger", "name": "payload", "activity": "record_failure_activity"},
        ),
        "announce_orchestrator": (
            {"direction": "IN", "type": "orchestrationTrigger", "name": "context",
             "orchestration": "announce_orchestrator"},
        ),
        "announcement_activity": (
            {"direction": "IN", "type": "activityTrigger", "name": "task_id", "activity": "announcement_activity"},
            CLIENT,
        ),
    }


def as_table(found: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(fn.bindings, key=repr) for name, fn in found.items()}


@pytest.mark.parametrize(("setting", "auth"), [(None, "FUNCTION"), ("anonymous", "ANONYMOUS")])
async def test_the_worker_indexes_every_function_with_exactly_its_bindings(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, auth: str
) -> None:
    if setting is None:
        monkeypatch.delenv("HTTP_AUTH_LEVEL", raising=False)
    else:
        monkeypatch.setenv("HTTP_AUTH_LEVEL", setting)

    async with FunctionsWorker() as worker:
        found = await worker.index()

    expected = {name: sorted(bindings, key=repr) for name, bindings in expected_functions(auth).items()}
    assert as_table(found) == expected
    assert worker.errors_logged() == []
    assert "Traceback" not in worker.stderr


EVENT_STARTERS = {
    "start_from_service_bus": (
        CLIENT,
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msg", "queueName": "agent-tasks",
         "connection": "ServiceBusConnection"},
    ),
    "start_from_event": (CLIENT, {"direction": "IN", "type": "eventGridTrigger", "name": "event"}),
}


async def test_the_event_starters_are_indexed_only_when_their_services_are_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HTTP_AUTH_LEVEL", raising=False)
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "tasks-ns.servicebus.windows.net")
    monkeypatch.setenv("SERVICE_BUS_QUEUE", "agent-tasks")
    monkeypatch.setenv("EVENT_GRID_STARTER", "true")

    async with FunctionsWorker() as worker:
        found = await worker.index()

    expected = {**expected_functions("FUNCTION"), **EVENT_STARTERS}
    assert as_table(found) == {name: sorted(bindings, key=repr) for name, bindings in expected.items()}
    assert worker.errors_logged() == []


async def test_invalid_settings_still_index_the_always_on_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_AUTH_LEVEL", raising=False)
    monkeypatch.setenv("MAX_TURNS", "not a number")
    monkeypatch.setenv("EVENT_GRID_STARTER", "true")  # unreadable settings: optional starters stay off

    async with FunctionsWorker() as worker:
        found = await worker.index()

    assert set(found) == set(expected_functions("FUNCTION"))
    assert any("settings are invalid" in log.message and "MAX_TURNS" in log.message for log in worker.logs)


async def test_the_worker_tells_the_host_it_takes_http_bodies_as_bytes() -> None:
    async with FunctionsWorker() as worker:
        await worker.index()

    capabilities = dict(worker.init_response.capabilities)
    assert capabilities["RawHttpBodyBytes"] == "true"
    assert capabilities["RpcHttpBodyOnly"] == "true"
    assert capabilities["RpcHttpTriggerMetadataRemoved"] == "true"


async def test_indexing_does_not_import_autogen(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "function_app.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util, sys
            sys.path.insert(0, {str(ROOT)!r})
            spec = importlib.util.spec_from_file_location("project_app", {str(ROOT / "function_app.py")!r})
            project = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(project)
            app = project.app  # the project's app, indexed by the worker
            del project
            if any(name.split(".")[0] in ("autogen_agentchat", "autogen_core", "autogen_ext", "openai")
                   for name in sys.modules):
                raise ImportError("indexing the app imported autogen or openai")
            """
        )
    )

    async with FunctionsWorker(app_dir=probe) as worker:
        found = await worker.index()

    assert set(found) == set(expected_functions("FUNCTION"))


BAD_APP = '''
from typing import Any

import azure.durable_functions as df

app = df.DFApp()


async def fine(payload: Any) -> dict[str, Any]:
    return {}


async def rejected(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


app.activity_trigger(input_name="payload", activity="fine")(fine)
app.activity_trigger(input_name="payload", activity="rejected")(rejected)
'''


async def test_a_binding_annotation_the_worker_rejects_fails_indexing_with_the_workers_message(
    tmp_path: Path,
) -> None:
    (tmp_path / "function_app.py").write_text(BAD_APP)

    async with FunctionsWorker(app_dir=tmp_path) as worker:
        with pytest.raises(WorkerError) as failure:
            await worker.index()

    assert "cannot load the rejected function" in str(failure.value)
    assert "binding payload has invalid non-type annotation dict[str, typing.Any]" in str(failure.value)
    assert worker.functions == {}  # one bad function: the host gets none
