"""Every kind of invocation, through the real worker's binding converters, with the payloads the host sends.

HTTP requests arrive as `RpcHttp` (lower-cased headers, route values in `params`, a bytes body),
durable clients as the starter JSON string, orchestrator episodes as the context JSON string,
activities as JSON, queue messages as strings with trigger metadata, the timer as JSON.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import FAILURE_ACTIVITY, PROMPT, RUN_ACTIVITY, Harness, StartApp, as_json
from tests.support.model_server import Faults
from tests.worker.conftest import worker_of

PRINCIPAL = "X-MS-CLIENT-PRINCIPAL-ID"


def unexpected_errors(app: Harness) -> list[str]:
    return [f"{log.category}: {log.message}" for log in worker_of(app).errors_logged()]


async def test_a_task_started_over_http_completes_and_reads_back(worker_app: Harness) -> None:
    body = json.dumps({"prompt": "Wie viel ist 6 × 7? ✓", "use_aoai": False}, ensure_ascii=False).encode()
    created = await worker_app.post_task(body, headers={"Content-Type": "application/json"})
    assert created.status_code == 202, created.get_body()
    task_id = as_json(created)["task_id"]
    assert created.headers["Location"] == f"/tasks/{task_id}"

    status = await worker_app.poll_until_finished(task_id)
    result = await worker_app.run_to_end(task_id)

    assert status["status"] == "completed" and status["prompt"] == "Wie viel ist 6 × 7? ✓"
    assert result["status"] == "completed"
    assert result["result"]["messages"][0] == {
        "source": "user", "content": "Wie viel ist 6 × 7? ✓", "type": "TextMessage"
    }
    assert result["result"]["task_result"]["final_answer"]
    assert result["prompt_tokens"] == worker_app.server.served_prompt_tokens > 0
    assert result["completion_tokens"] == worker_app.server.served_completion_tokens > 0
    assert [c.name for c in worker_app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    worker_app.assert_stores_agree(task_id, result)
    assert unexpected_errors(worker_app) == []


async def test_route_values_and_headers_reach_the_function_as_the_host_sends_them(worker_app: Harness) -> None:
    missing = await worker_app.get_status("no-such-task", headers={PRINCIPAL: "someone"})
    assert missing.status_code == 404
    assert as_json(missing) == {"detail": "Task not found"}

    invalid = await worker_app.get_result("bad id!")
    assert invalid.status_code == 422
    assert as_json(invalid)["detail"][0]["loc"] == ["path", "task_id"]

    not_json = await worker_app.post_task(b"\xff\xfe not json")
    assert not_json.status_code == 422
    worker_app.assert_nothing_created()


@pytest.mark.worker_app(ACTIVITY_MAX_ATTEMPTS=2)
async def test_a_failing_task_ends_failed_with_a_readable_error(start_worker_app: StartApp) -> None:
    app = await start_worker_app(faults=Faults(fail_all=True, status=429))
    task_id = await app.create_task()

    result = await app.run_to_end(task_id)

    assert result["status"] == "failed"
    assert result["error"].startswith("RateLimitError:") and "429" in result["error"]
    assert "Traceback" not in result["error"] and "Activity function" not in result["error"]
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY, RUN_ACTIVITY, FAILURE_ACTIVITY]
    app.assert_stores_agree(task_id, result)


async def test_a_queue_message_starts_its_task_and_an_invalid_one_is_dropped(worker_app: Harness) -> None:
    good = await worker_app.host.send_queue_message(
        "magentic-tasks", {"task_id": "order-42", "prompt": PROMPT, "use_aoai": False}
    )
    bad = await worker_app.host.send_queue_message("magentic-tasks", b'{"prompt": ""}')

    assert good.succeeded and good.attempts == 1
    assert bad.succeeded and bad.attempts == 1 and not bad.poisoned  # dropped, not retried
    result = await worker_app.run_to_end("order-42")
    assert result["status"] == "completed"
    dropped = [log for log in worker_of(worker_app).logs if "dropped" in log.message]
    assert len(dropped) == 1 and bad.message_id in dropped[0].message
    assert len(worker_app.host.instances) == 1


async def test_the_reconcile_timer_runs_in_the_worker(worker_app: Harness) -> None:
    task_id = await worker_app.create_task()
    await worker_app.run_to_end(task_id)

    returned = await worker_app.host.run_timer("reconcile_mirror")

    assert returned is None
    assert any("mirror reconcile" in log.message for log in worker_of(worker_app).logs), worker_of(worker_app).logs
    assert unexpected_errors(worker_app) == []
