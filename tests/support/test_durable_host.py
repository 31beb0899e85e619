"""Proves `FakeDurableHost` against a tiny app: real functions, the real SDK client, real replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import AsyncIterator, Generator
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
from azure.durable_functions.models.utils import http_utils

from tests.support.durable_host import FakeDurableHost, discover_functions

# ---- the sample app ----------------------------------------------------------------------------

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = df.Blueprint()

_gate: dict[str, asyncio.Event] = {}
_flaky_lock = threading.Lock()
_flaky_runs: dict[str, int] = {}
MODE = {"first_activity": "greet"}


async def greet(payload: dict[str, Any]) -> dict[str, str]:
    return {"greeting": f"Hello {payload['name']}"}


async def wait_for_gate(payload: str) -> str:
    await _gate["open"].wait()
    return f"released {payload}"


def flaky(payload: dict[str, Any]) -> dict[str, Any]:
    """Sync on purpose (the host runs it in a worker thread): fails ``failures`` times, then succeeds."""
    with _flaky_lock:
        _flaky_runs[payload["key"]] = runs = _flaky_runs.get(payload["key"], 0) + 1
    if runs <= payload["failures"]:
        raise RuntimeError(f"flaky failure {runs}")
    return {"runs": runs}


def always_fails(payload: dict[str, Any]) -> None:
    raise ValueError(f"boom {payload.get('key', '')}".strip())


def hello_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    name = context.get_input()
    context.set_custom_status({"stage": "greeting"})
    result = yield context.call_activity("greet", name)
    context.set_custom_status({"stage": "done"})
    return result


def gated_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    context.set_custom_status("waiting")
    first = MODE["first_activity"]
    if first == "greet":
        result = yield context.call_activity("wait_for_gate", "gate")
    else:
        result = yield context.call_activity(first, "gate")
    context.set_custom_status("released")
    return result


def retry_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
    try:
        result = yield context.call_activity_with_retry(job["activity"], retry, job)
    except Exception as error:
        return {"error": str(error)}
    return {"ok": result}


def failing_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    context.set_custom_status("about to fail")
    yield context.call_activity("always_fails", {"key": "unhandled"})
    return "unreachable"


def fan_out_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    names = context.get_input()
    results = yield context.task_all([context.call_activity("greet", {"name": n}) for n in names])
    return [r["greeting"] for r in results]


def timer_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    started = context.current_utc_datetime
    yield context.create_timer(started + dt.timedelta(hours=1))
    return {"started": started.isoformat(), "woke": context.current_utc_datetime.isoformat()}


def sub_orchestrating(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    result = yield context.call_sub_orchestrator("hello_orchestrator", {"name": "child"})
    return result


def approval_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    answer = yield context.wait_for_external_event("approval")
    return {"answer": answer}


bp.orchestration_trigger(context_name="context")(hello_orchestrator)
bp.orchestration_trigger(context_name="context")(approval_orchestrator)
bp.orchestration_trigger(context_name="context")(gated_orchestrator)
bp.orchestration_trigger(context_name="context", orchestration="retrying")(retry_orchestrator)
bp.orchestration_trigger(context_name="context")(failing_orchestrator)
bp.orchestration_trigger(context_name="context")(fan_out_orchestrator)
bp.orchestration_trigger(context_name="context")(timer_orchestrator)
bp.orchestration_trigger(context_name="context")(sub_orchestrating)
app.activity_trigger(input_name="payload")(greet)
app.activity_trigger(input_name="payload")(wait_for_gate)
app.activity_trigger(input_name="payload")(flaky)
app.activity_trigger(input_name="payload")(always_fails)
app.register_functions(bp)


async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"],
        instance_id=req.params.get("id"),
        client_input=json.loads(body) if body else None,
    )
    return func.HttpResponse(json.dumps({"id": instance_id}), status_code=202, mimetype="application/json")


async def http_check(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], client_input=req.get_json())
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"])
    if not status:
        return func.HttpResponse(json.dumps({"detail": "not found"}), status_code=404, mimetype="application/json")
    body = {
        "runtimeStatus": status.runtime_status.value,
        "customStatus": status.custom_status,
        "output": status.output,
        "input": status.input_,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


async def http_purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instance_id"])
    return func.HttpResponse(json.dumps({"deleted": result.instances_deleted}), mimetype="application/json")


async def queue_start(msg: func.QueueMessage, starter: df.DurableOrchestrationClient) -> None:
    job = msg.get_json()
    if job.get("explode"):
        raise RuntimeError(f"bad message on dequeue {msg.dequeue_count}")
    await starter.start_new("hello_orchestrator", instance_id=job["id"], client_input={"name": job["name"]})


def whoami(req: func.HttpRequest) -> func.HttpResponse:
    """Needs a function key; answers with the principal headers it got."""
    principal = {k: v for k, v in req.headers.items() if k.lower().startswith("x-ms-client-principal")}
    return func.HttpResponse(json.dumps(principal), mimetype="application/json")


SWEPT: list[tuple[bool, str]] = []


async def sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    for status in await client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Completed]):
        SWEPT.append((timer.past_due, status.instance_id))


# The SDK's decorators are untyped: register with their call form, as the app does.
app.route(route="orchestrators/{name}", methods=["POST"])(app.durable_client_input(client_name="client")(http_start))
app.route(route="check/{name}", methods=["POST"])(app.durable_client_input(client_name="client")(http_check))
app.route(route="status/{instance_id}", methods=["GET"])(app.durable_client_input(client_name="client")(http_status))
app.route(route="instances/{instance_id}", methods=["DELETE"])(
    app.durable_client_input(client_name="client")(http_purge)
)
app.route(route="whoami", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)(whoami)
app.queue_trigger(arg_name="msg", queue_name="work-items", connection="AzureWebJobsStorage")(
    app.durable_client_input(client_name="starter")(queue_start)
)
app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)(
    app.durable_client_input(client_name="client")(sweep)
)


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    _gate["open"] = asyncio.Event()
    _flaky_runs.clear()
    SWEPT.clear()
    MODE["first_activity"] = "greet"


@pytest.fixture
async def host() -> AsyncIterator[FakeDurableHost]:
    async with FakeDurableHost(app, timer_scale=0) as fake:
        yield fake


async def start_via_http(host: FakeDurableHost, name: str, payload: Any, instance_id: str | None = None) -> str:
    params = {"id": instance_id} if instance_id else None
    response = await host.call_http("http_start", route_params={"name": name}, body=payload, params=params)
    assert response.status_code == 202, response.get_body()
    return str(json.loads(response.get_body())["id"])


def event_types(history: list[dict[str, Any]]) -> list[str]:
    return [HistoryEventType(e["EventType"]).name for e in history]


# ---- discovery ---------------------------------------------------------------------------------


def test_discovery_finds_every_kind_of_function() -> None:
    index = discover_functions(app)
    assert set(index.orchestrators) >= {"hello_orchestrator", "retrying", "timer_orchestrator"}
    assert index.orchestrator("RETRYING") is index.orchestrators["retrying"]
    assert index.orchestrators["retrying"].function_name == "retry_orchestrator"
    assert set(index.activities) == {"greet", "wait_for_gate", "flaky", "always_fails"}
    assert index.activities["greet"].trigger_param == "payload"
    start = index.http["http_start"]
    assert (start.route, start.methods, start.client_params) == ("orchestrators/{name}", ("POST",), ("client",))
    queue = index.queue_function("work-items")
    assert queue is not None and queue.function_name == "queue_start" and queue.client_params == ("starter",)


# ---- running orchestrations -------------------------------------------------------------------


async def test_http_start_completes_with_the_activitys_real_result(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "hello_orchestrator", {"name": "Ada"})

    instance = await host.wait_for(instance_id)

    assert instance.runtime_status == "Completed"
    assert instance.output == {"greeting": "Hello Ada"}
    assert instance.custom_status == {"stage": "done"}
    assert [c.input for c in host.calls_of("greet")] == [{"name": "Ada"}]
    response = await host.call_http(("GET", f"/api/status/{instance_id}"))
    status = json.loads(response.get_body())
    assert response.status_code == 200
    assert status["runtimeStatus"] == "Completed" and status["output"] == {"greeting": "Hello Ada"}
    # The Python client posts the JSON of a JSON string, so the host's `input` is that string.
    assert json.loads(status["input"]) == {"name": "Ada"}


async def test_history_and_context_have_the_hosts_shape(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "hello_orchestrator", {"name": "Ada"})
    await host.wait_for(instance_id, "Completed")

    history = host.history(instance_id)
    assert event_types(history) == [
        "ORCHESTRATOR_STARTED", "EXECUTION_STARTED", "TASK_SCHEDULED", "ORCHESTRATOR_COMPLETED",
        "ORCHESTRATOR_STARTED", "TASK_COMPLETED", "ORCHESTRATOR_COMPLETED", "EXECUTION_COMPLETED",
    ]  # fmt: skip
    for event in history:
        assert {"EventType", "EventId", "IsPlayed", "Timestamp"} <= event.keys()
    started, scheduled, completed = history[1], history[2], history[5]
    assert started["Name"] == "hello_orchestrator" and "Version" in started
    assert json.loads(json.loads(started["Input"])) == {"name": "Ada"}
    assert (scheduled["EventId"], scheduled["Name"], json.loads(scheduled["Input"])) == (0, "greet", {"name": "Ada"})
    assert (completed["EventId"], completed["TaskScheduledId"]) == (-1, 0)
    assert json.loads(completed["Result"]) == {"greeting": "Hello Ada"}

    instance = host.get_instance(instance_id)
    assert instance is not None and instance.last_context is not None
    context = json.loads(instance.last_context)
    assert context["instanceId"] == instance_id
    assert json.loads(context["input"]) == {"name": "Ada"}
    assert (context["upperSchemaVersion"], context["upperSchemaVersionNew"], context["isReplaying"]) == (1, 3, True)
    assert [e["IsPlayed"] for e in context["history"]] == [True] * 4 + [False] * 2
    assert instance.last_state is not None and instance.last_state["isDone"] is True


async def test_custom_status_is_visible_while_the_activity_runs(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "gated_orchestrator", None)
    await host.wait_until(lambda: bool(host.calls_of("wait_for_gate")), description="the gated activity")

    response = await host.call_http("http_status", route_params={"instance_id": instance_id})
    mid_run = json.loads(response.get_body())
    assert (mid_run["runtimeStatus"], mid_run["customStatus"]) == ("Running", "waiting")
    async with aiohttp.ClientSession() as session, session.get(f"{host.rpc_base_url}instances/{instance_id}") as raw:
        assert raw.status == 202
        assert set(await raw.json()) == {
            "name", "instanceId", "runtimeStatus", "input", "customStatus", "output", "createdTime", "lastUpdatedTime",
        }  # fmt: skip

    _gate["open"].set()
    instance = await host.wait_for(instance_id)
    assert (instance.runtime_status, instance.custom_status, instance.output) == (
        "Completed",
        "released",
        "released gate",
    )


async def test_retry_runs_the_activity_again_until_it_succeeds(host: FakeDurableHost) -> None:
    job = {"activity": "flaky", "key": uuid.uuid4().hex, "failures": 2}
    instance_id = await start_via_http(host, "retrying", job)

    instance = await host.wait_for(instance_id)

    assert (instance.runtime_status, instance.output) == ("Completed", {"ok": {"runs": 3}})
    calls = host.calls_of("flaky", instance_id)
    assert [(c.attempt, c.status) for c in calls] == [(1, "failed"), (2, "failed"), (3, "completed")]
    history = host.history(instance_id)
    scheduled = [e["EventId"] for e in history if e["EventType"] == HistoryEventType.TASK_SCHEDULED]
    timers = [e for e in history if e["EventType"] == HistoryEventType.TIMER_CREATED]
    assert scheduled == [0, 2, 4] and [t["EventId"] for t in timers] == [1, 3]
    # The retry timer fires firstRetryInterval after the episode that saw the failure (coefficient 1).
    for timer in timers:
        before = history[: history.index(timer)]
        episode = [e for e in before if e["EventType"] == HistoryEventType.ORCHESTRATOR_STARTED][-1]
        gap = dt.datetime.fromisoformat(timer["FireAt"]) - dt.datetime.fromisoformat(episode["Timestamp"])
        assert gap == dt.timedelta(seconds=1)


async def test_retry_waits_real_time_scaled_by_timer_scale() -> None:
    async with FakeDurableHost(app, timer_scale=0.02) as host:
        job = {"activity": "flaky", "key": uuid.uuid4().hex, "failures": 1}
        instance_id = host.start_orchestration("retrying", job)
        instance = await host.wait_for(instance_id, timeout=5)
        assert instance.output == {"ok": {"runs": 2}}
        first, second = host.calls_of("flaky", instance_id)
        assert first.finished_at is not None
        assert (second.started_at - first.finished_at) >= dt.timedelta(milliseconds=15)


async def test_retry_exhausted_surfaces_the_last_failure_to_the_orchestrator(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "retrying", {"activity": "always_fails", "key": "k1"})

    instance = await host.wait_for(instance_id)

    assert instance.runtime_status == "Completed"
    assert "Activity function 'always_fails' failed: ValueError: boom k1" in instance.output["error"]
    assert len(host.calls_of("always_fails", instance_id)) == 3
    history = host.history(instance_id)
    kinds = (HistoryEventType.TASK_SCHEDULED, HistoryEventType.TIMER_CREATED)
    ids = [e["EventId"] for e in history if e["EventType"] in kinds]
    assert ids == [0, 1, 2, 3, 4, 5]  # a timer after every failed attempt, the last one included


async def test_an_unhandled_activity_failure_fails_the_orchestration(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "failing_orchestrator", None)

    instance = await host.wait_for(instance_id)

    assert instance.runtime_status == "Failed"
    assert instance.output.startswith("Orchestrator function 'failing_orchestrator' failed: ")
    assert "ValueError: boom unhandled" in instance.output
    assert instance.custom_status == "about to fail"
    status = await host.client().get_status(instance_id)
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Failed and status.output == instance.output


async def test_fan_out_schedules_every_activity_with_its_own_id(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("fan_out_orchestrator", ["a", "b", "c"])

    instance = await host.wait_for(instance_id)

    assert instance.output == ["Hello a", "Hello b", "Hello c"]
    scheduled = [e["EventId"] for e in host.history(instance_id) if e["EventType"] == HistoryEventType.TASK_SCHEDULED]
    assert scheduled == [0, 1, 2]


async def test_durable_timers_move_the_virtual_clock(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("timer_orchestrator")

    instance = await host.wait_for(instance_id, timeout=2)

    woke = dt.datetime.fromisoformat(instance.output["woke"])
    assert woke - dt.datetime.fromisoformat(instance.output["started"]) >= dt.timedelta(hours=1)
    assert "TIMER_FIRED" in event_types(host.history(instance_id))


async def test_unsupported_actions_fail_the_orchestration_clearly(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("sub_orchestrating")

    instance = await host.wait_for(instance_id)

    assert instance.runtime_status == "Failed"
    assert "does not support the CALL_SUB_ORCHESTRATOR action 'hello_orchestrator'" in instance.output


async def test_a_nondeterministic_replay_fails_the_orchestration(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("gated_orchestrator")
    await host.wait_until(lambda: bool(host.calls_of("wait_for_gate")))
    MODE["first_activity"] = "greet_somebody_else"

    _gate["open"].set()
    instance = await host.wait_for(instance_id)

    assert instance.runtime_status == "Failed" and "Non-Deterministic" in instance.output


# ---- the client API ----------------------------------------------------------------------------


async def test_unknown_instance_is_reported_not_found(host: FakeDurableHost) -> None:
    status = await host.client().get_status("no-such-instance")
    assert not status and status.runtime_status is None and status.created_time is None

    response = await host.call_http(("GET", "/api/status/no-such-instance"))
    assert (response.status_code, json.loads(response.get_body())) == (404, {"detail": "not found"})


async def test_purge_then_get_status_is_not_found(host: FakeDurableHost) -> None:
    instance_id = await start_via_http(host, "hello_orchestrator", {"name": "Ada"})
    await host.wait_for(instance_id, "Completed")

    response = await host.call_http(("DELETE", f"/api/instances/{instance_id}"))
    assert json.loads(response.get_body()) == {"deleted": 1}

    assert host.get_instance(instance_id) is None
    assert not await host.client().get_status(instance_id)
    again = await host.call_http(("DELETE", f"/api/instances/{instance_id}"))
    assert json.loads(again.get_body()) == {"deleted": 0}


async def test_purging_a_running_instance_is_refused(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("gated_orchestrator")
    await host.wait_for(instance_id, "Running")

    with pytest.raises(Exception, match="unexpected status code 412"):
        await host.client().purge_instance_history(instance_id)
    _gate["open"].set()
    await host.wait_idle()


async def test_starting_a_running_instance_again_conflicts_but_a_finished_one_is_replaced(
    host: FakeDurableHost,
) -> None:
    client = host.client()
    await client.start_new("gated_orchestrator", instance_id="fixed")
    await host.wait_for("fixed", "Running")

    with pytest.raises(Exception, match="already exists"):
        await client.start_new("gated_orchestrator", instance_id="fixed")

    _gate["open"].set()
    first = await host.wait_for("fixed")
    assert await client.start_new("hello_orchestrator", instance_id="fixed", client_input={"name": "B"}) == "fixed"
    second = await host.wait_for("fixed", "Completed")
    assert second is not first and second.output == {"greeting": "Hello B"}


async def test_starting_an_unknown_orchestrator_raises_the_hosts_message(host: FakeDurableHost) -> None:
    with pytest.raises(Exception, match="'nope' doesn't exist"):
        await host.client().start_new("nope")


async def test_terminate_stops_the_orchestration_but_not_the_running_activity(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("gated_orchestrator")
    await host.wait_until(lambda: bool(host.calls_of("wait_for_gate")))

    await host.client().terminate(instance_id, "enough")

    instance = await host.wait_for(instance_id, "Terminated")
    assert instance.output == "enough"
    (call,) = host.calls_of("wait_for_gate")
    assert call.status == "running"
    _gate["open"].set()
    await host.wait_idle()
    assert [c.status for c in host.calls_of("wait_for_gate")] == ["completed"]
    assert instance.runtime_status == "Terminated"
    with pytest.raises(Exception, match=r"is gone"):
        await host.client().raise_event(instance_id, "evt", {})


async def test_a_queued_terminate_is_carried_out_when_the_instance_gets_to_it() -> None:
    async with FakeDurableHost(app, timer_scale=0, queued_terminations=True) as host:
        instance_id = host.start_orchestration("gated_orchestrator")
        await host.wait_until(lambda: bool(host.calls_of("wait_for_gate")))

        assert host.terminate(instance_id, "enough")
        instance = host.get_instance(instance_id)
        assert instance is not None and instance.runtime_status == "Running"  # accepted, not yet carried out

        terminated = await host.wait_for(instance_id, "Terminated")
        assert terminated.output == "enough"
        _gate["open"].set()
        await host.wait_idle()
        assert terminated.runtime_status == "Terminated"


# ---- the binding, management URLs and other triggers -------------------------------------------


async def test_starter_json_carries_the_system_key_and_points_at_the_fake(host: FakeDurableHost) -> None:
    starter = json.loads(host.starter_json())
    assert starter["rpcBaseUrl"] == host.rpc_base_url and starter["taskHubName"] == "TestHubName"
    assert starter["requiredQueryStringParameters"] == "code=SYSTEMKEY"
    assert all("code=SYSTEMKEY" in url for url in starter["managementUrls"].values() if url != "INSTANCEID")

    # create_check_status_response hands those URLs (and the key) to the caller.
    response = await host.call_http(("POST", "/api/check/hello_orchestrator"), body={"name": "Ada"})
    assert response.status_code == 202 and b"code=SYSTEMKEY" in response.get_body()
    links = json.loads(response.get_body())
    await host.wait_for(links["id"])
    async with aiohttp.ClientSession() as session:
        async with session.get(links["statusQueryGetUri"]) as status:
            assert status.status == 200 and (await status.json())["output"] == {"greeting": "Hello Ada"}
        without_key = links["statusQueryGetUri"].replace("code=SYSTEMKEY", "code=wrong")
        async with session.get(without_key) as denied:
            assert denied.status == 401


async def test_http_functions_are_served_over_real_http(host: FakeDurableHost) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{host.base_url}/api/orchestrators/hello_orchestrator"
        async with session.post(url, json={"name": "Web"}) as started:
            assert started.status == 202
            instance_id = (await started.json())["id"]
        await host.wait_for(instance_id)
        async with session.get(f"{host.base_url}/api/status/{instance_id}") as status:
            assert (await status.json())["output"] == {"greeting": "Hello Web"}
        async with session.get(f"{host.base_url}/api/nothing-here") as missing:
            assert missing.status == 404


async def test_the_front_door_checks_function_keys_of_functions_that_are_not_anonymous() -> None:
    async with FakeDurableHost(app, timer_scale=0, function_keys=["key-1"]) as host, aiohttp.ClientSession() as web:
        async with web.get(f"{host.base_url}/api/whoami") as refused:
            assert (refused.status, await refused.read()) == (401, b"")
        async with web.get(f"{host.base_url}/api/whoami", headers={"x-functions-key": "wrong"}) as wrong:
            assert wrong.status == 401
        async with web.get(f"{host.base_url}/api/whoami", headers={"x-functions-key": "key-1"}) as by_header:
            assert by_header.status == 200
        async with web.get(f"{host.base_url}/api/whoami?code=key-1") as by_query:
            assert by_query.status == 200
        async with web.get(f"{host.base_url}/api/status/none") as anonymous:
            assert anonymous.status == 404  # an anonymous function: reached without a key
        assert [(r.url.split("/api/")[1], a.status_code) for r, a in host.http_exchanges] == [
            ("whoami", 200), ("whoami?code=key-1", 200), ("status/none", 404)
        ]  # the front door records what the functions answered, as call_http does


async def test_app_service_sign_in_sets_the_principal_of_the_session_and_drops_forged_headers() -> None:
    forged = {"X-MS-CLIENT-PRINCIPAL-ID": "mallory", "X-MS-CLIENT-PRINCIPAL-NAME": "mallory"}
    async with FakeDurableHost(app, timer_scale=0, auth_sessions={"s-alice": "alice"}) as host:
        session = aiohttp.ClientSession(cookies={"AppServiceAuthSession": "s-alice"})
        async with session as web, web.get(f"{host.base_url}/api/whoami", headers=forged) as signed_in:
            assert await signed_in.json() == {"x-ms-client-principal-id": "alice"}
        async with aiohttp.ClientSession() as web, web.get(f"{host.base_url}/api/whoami", headers=forged) as anon:
            assert await anon.json() == {}


async def test_queue_messages_start_orchestrations_and_bad_ones_are_poisoned(host: FakeDurableHost) -> None:
    delivery = await host.send_queue_message("work-items", {"id": "from-queue", "name": "Q"})
    assert delivery.succeeded and delivery.attempts == 1
    assert (await host.wait_for("from-queue")).output == {"greeting": "Hello Q"}

    bad = await host.send_queue_message("queue_start", {"explode": True})
    assert (bad.attempts, bad.succeeded, bad.poisoned) == (5, False, True)
    assert [str(e) for e in bad.errors][-1] == "bad message on dequeue 5"
    assert host.poison_messages == [bad]


async def test_timer_functions_run_with_a_real_timer_request(host: FakeDurableHost) -> None:
    done = host.start_orchestration("hello_orchestrator", {"name": "T"})
    await host.wait_for(done)
    host.start_orchestration("gated_orchestrator")

    await host.run_timer("sweep", past_due=True)

    assert [(True, done)] == SWEPT
    _gate["open"].set()


async def test_raised_events_reach_wait_for_external_event(host: FakeDurableHost) -> None:
    instance_id = host.start_orchestration("approval_orchestrator")
    await host.wait_for(instance_id, "Running")

    await host.client().raise_event(instance_id, "approval", {"ok": True})

    instance = await host.wait_for(instance_id)
    # The Python client JSON-encodes the data before posting it as JSON: the orchestrator gets a string.
    assert instance.output == {"answer": json.dumps({"ok": True})}
    with pytest.raises(Exception, match="is gone"):
        await host.client().raise_event(instance_id, "approval", {"ok": True})


async def test_http_function_errors_become_500(host: FakeDurableHost) -> None:
    response = await host.call_http("http_start", route_params={"name": "hello_orchestrator"}, body="not json")
    assert response.status_code == 500
    assert isinstance(host.function_errors[-1].error, ValueError)


async def test_the_sdk_session_is_reset_when_the_host_stops() -> None:
    async with FakeDurableHost(app, timer_scale=0) as host:
        await host.client().get_status("x")
        assert http_utils._client_session is not None
    assert http_utils._client_session is None
