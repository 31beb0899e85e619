"""Telemetry of real scripted runs through the registered functions on the fake Durable host: one
trace per task from the HTTP start to the model calls, the task id on every span and log record,
metrics equal to what the model served, and no secret anywhere, also when the model echoes it."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from magentic_tasks.redaction import REDACTED
from magentic_tasks.telemetry import TASK_ID_ATTRIBUTE
from tests.e2e.conftest import StartApp, as_json
from tests.support.model_server import Faults, Script
from tests.telemetry.conftest import Exported

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def everything_exported(exported: Exported) -> list[str]:
    """Each span, log record and metric data point as text, for searching."""
    texts = [span.to_json() for span in exported.spans()]
    texts += [log.to_json() if hasattr(log, "to_json") else repr(log) for log in exported.logs()]
    texts += [str(log.body) + json.dumps(dict(log.attributes or {}), default=str) for log in exported.logs()]
    data = exported.metric_reader.get_metrics_data()
    texts.append(data.to_json() if data else "")
    return texts


def token_sums(exported: Exported) -> dict[tuple[str, str, str], int]:
    """`gen_ai.client.token.usage` summed by (agent, model, token type)."""
    sums: dict[tuple[str, str, str], int] = {}
    for point in exported.metric_points("gen_ai.client.token.usage"):
        attributes = point.attributes
        key = (attributes["gen_ai.agent.name"], attributes["gen_ai.request.model"], attributes["gen_ai.token.type"])
        sums[key] = sums.get(key, 0) + int(point.sum)
    return sums


async def test_one_trace_per_task_from_the_http_start_to_the_model_calls(
    start_app: StartApp, exported: Exported
) -> None:
    app = await start_app(Script(rounds_before_satisfied=2))
    task_id = await app.create_task(headers={"traceparent": TRACEPARENT})
    result = await app.run_to_end(task_id)
    assert result["status"] == "completed"

    spans = exported.spans()
    (create,) = by_name(spans, "create task")
    (run,) = by_name(spans, "run task")
    chats = by_name(spans, "chat gpt-4o")
    autogen = [span for span in spans if span.instrumentation_scope.name.startswith("autogen")]
    # The caller's trace, through the Durable input, to every model call and autogen's own spans.
    assert {span.context.trace_id for span in spans} == {int(TRACE_ID, 16)}
    assert create.parent is not None and create.parent.span_id == int(CALLER_SPAN, 16)
    assert run.parent is not None and run.parent.span_id == create.context.span_id
    durable_input = json.loads(app.host.get_instance(task_id).input)
    assert durable_input["trace_parent"] == f"00-{TRACE_ID}-{create.context.span_id:016x}-01"
    assert len(chats) == len(app.server.requests) > 4 and autogen
    assert all(span.attributes[TASK_ID_ATTRIBUTE] == task_id for span in spans)
    assert {span.attributes["gen_ai.agent.name"] for span in chats} >= {"MagenticOneOrchestrator", "Coder"}
    assert all(span.attributes["gen_ai.operation.name"] == "chat" for span in chats)
    # Each model call's span nests inside the run, and carries what the model served.
    ancestors = {span.context.span_id: span.parent.span_id if span.parent else None for span in spans}

    def under_run(span: ReadableSpan) -> bool:
        node: int | None = span.context.span_id
        while node is not None:
            if node == run.context.span_id:
                return True
            node = ancestors.get(node)
        return False

    assert all(under_run(span) for span in chats)
    assert sum(span.attributes["gen_ai.usage.input_tokens"] for span in chats) == app.server.served_prompt_tokens
    assert sum(span.attributes["gen_ai.usage.output_tokens"] for span in chats) == app.server.served_completion_tokens

    # Metrics: tokens by agent and model equal the result's breakdown (what the server served).
    sums = token_sums(exported)
    by_agent = result["result"]["usage_by_agent"]
    assert {(agent, "gpt-4o", "input"): usage["prompt_tokens"] for agent, usage in by_agent.items()} == {
        key: value for key, value in sums.items() if key[2] == "input"
    }
    assert {(agent, "gpt-4o", "output"): usage["completion_tokens"] for agent, usage in by_agent.items()} == {
        key: value for key, value in sums.items() if key[2] == "output"
    }
    (tasks,) = exported.metric_points("magentic.tasks")
    assert (tasks.value, tasks.attributes["magentic.status"], tasks.attributes["gen_ai.request.model"]) == (
        1, "completed", "gpt-4o")
    # Why it ended, as a code: the ledger's reason (the model's words) is not a metric dimension.
    assert tasks.attributes["magentic.stop_code"] == run.attributes["magentic.stop_code"] == "completed"
    assert "magentic.stop_reason" not in tasks.attributes
    (duration,) = exported.metric_points("magentic.task.run.duration")
    assert duration.count == 1 and duration.sum == pytest.approx(result["result"]["execution_time"])

    # Log records written while the activity handled the task carry its id.
    run_logs = [log for log in exported.logs() if (log.attributes or {}).get(TASK_ID_ATTRIBUTE) == task_id]
    assert run_logs, "no log record of the run carried the task id"


async def test_a_task_without_a_traceparent_gets_a_trace_of_its_own(start_app: StartApp, exported: Exported) -> None:
    app = await start_app()
    first, second = await app.create_task(), await app.create_task()
    for task_id in (first, second):
        await app.run_to_end(task_id)
    runs = {span.attributes[TASK_ID_ATTRIBUTE]: span for span in by_name(exported.spans(), "run task")}
    assert runs[first].context.trace_id != runs[second].context.trace_id
    for task_id in (first, second):
        trace_ids = {s.context.trace_id for s in exported.spans() if s.attributes.get(TASK_ID_ATTRIBUTE) == task_id}
        assert trace_ids == {runs[task_id].context.trace_id}


async def test_an_api_key_echoed_by_the_model_appears_in_no_span_log_or_metric(
    start_app: StartApp, exported: Exported
) -> None:
    key = "canary-7f3a9b2c4d5e6f70a1b2"  # looks like nothing: only the settings' own secrets catch it
    script = Script(rounds_before_satisfied=100, instruction=f"Use the key {key} to call the API.")
    faults = Faults(fail_all=True, fail_kinds=frozenset({"coder"}), echo_credentials=True, canary=key)
    app = await start_app(script, faults, OPENAI_API_KEY=key, MODEL_MAX_RETRIES=0, ACTIVITY_MAX_ATTEMPTS=2)
    exported.refresh_secrets()

    task_id = await app.create_task(headers={"traceparent": TRACEPARENT})
    result = await app.run_to_end(task_id)

    # The key was really sent and really echoed back in the model's errors.
    assert {r.headers["authorization"] for r in app.server.requests} == {f"Bearer {key}"}
    assert result["status"] == "failed" and REDACTED in result["error"]
    spans = exported.spans()
    failed_calls = [s for s in by_name(spans, "chat gpt-4o") if s.attributes.get("error.type")]
    assert len(failed_calls) == 2 and all(s.events for s in failed_calls)  # the exception, as an event
    assert any(REDACTED in (event.attributes or {}).get("exception.message", "") for s in failed_calls
               for event in s.events)
    assert len(by_name(spans, "run task")) == 2
    (recorded,) = by_name(spans, "record failure")  # the final outcome, as the failed-tasks query reads it
    assert recorded.attributes["magentic.status"] == "failed" and not recorded.status.is_ok
    assert recorded.attributes["magentic.error"] == result["error"] and REDACTED in result["error"]
    assert {span.context.trace_id for span in spans} == {int(TRACE_ID, 16)}
    assert all(span.attributes[TASK_ID_ATTRIBUTE] == task_id for span in spans)
    for text in everything_exported(exported):
        assert key not in text

    (tasks,) = exported.metric_points("magentic.tasks")
    assert (tasks.value, tasks.attributes["magentic.status"]) == (1, "failed")
    sums = token_sums(exported)
    assert sum(v for k, v in sums.items() if k[2] == "input") == app.server.served_prompt_tokens == result[
        "prompt_tokens"]


async def test_a_cancelled_run_records_its_cancel_latency(start_app: StartApp, exported: Exported) -> None:
    app = await start_app(Script(rounds_before_satisfied=10_000), Faults(latency=0.05), MAX_TURNS=200,
                          CANCEL_POLL_SECONDS=0.1)
    task_id = await app.create_task()
    for _ in range(500):  # until the run has called the model
        if app.server.requests:
            break
        await asyncio.sleep(0.02)
    response = await app.host.call_http("cancel_task", route_params={"task_id": task_id})
    assert response.status_code == 202, response.get_body()
    await app.host.wait_idle()
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled"

    (latency,) = exported.metric_points("magentic.task.cancel.latency")
    # Durable's lastUpdatedTime has whole seconds: the run stops within a poll, plus that rounding.
    assert latency.count == 1 and 0 <= latency.sum < 2.5
    (tasks,) = exported.metric_points("magentic.tasks")
    assert tasks.attributes["magentic.status"] == "cancelled"
