"""Listing, deleting, idempotent create, the OpenAPI document and retention, through the real worker."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from magentic_tasks.store import TaskStore
from tests.e2e.conftest import Harness, as_json
from tests.worker.conftest import worker_of


@pytest.mark.worker_app(own_files=True)  # it lists every task: a SQLite file no other test shares
async def test_list_delete_and_idempotent_create_through_the_worker(worker_app: Harness) -> None:
    body = {"prompt": "What is 6 * 7?", "use_aoai": False}
    first = await worker_app.post_task(body, headers={"Idempotency-Key": "worker-1"})
    again = await worker_app.post_task(body, headers={"Idempotency-Key": "worker-1"})
    task_id = as_json(first)["task_id"]
    assert as_json(again)["task_id"] == task_id and again.headers["Idempotent-Replayed"] == "true"
    await worker_app.run_to_end(task_id)

    listed = await worker_app.host.call_http(("GET", "/tasks"), params={"limit": "5"})
    deleted = await worker_app.host.call_http(("DELETE", f"/tasks/{task_id}"))
    after = await worker_app.host.call_http(("GET", "/tasks"))

    assert [t["task_id"] for t in as_json(listed)["tasks"]] == [task_id]
    assert deleted.status_code == 204
    assert as_json(after) == {"tasks": [], "next_cursor": None}
    assert worker_of(worker_app).errors_logged() == []


async def test_the_openapi_document_is_served_by_the_worker(worker_app: Harness) -> None:
    response = await worker_app.host.call_http(("GET", "/openapi.json"))

    document = json.loads(response.get_body())
    assert response.status_code == 200 and document["openapi"] == "3.1.0"
    assert {"/tasks", "/tasks/{task_id}", "/tasks/{task_id}/result", "/openapi.json"} <= set(document["paths"])


@pytest.mark.worker_app(DURABLE_RETENTION_DAYS="0.00001")
async def test_the_retention_timer_runs_in_the_worker(worker_app: Harness) -> None:
    app = worker_app
    task_id = await app.create_task()
    result = await app.run_to_end(task_id)
    await asyncio.sleep(1.5)  # DURABLE_RETENTION_DAYS is about 0.9 s

    await app.host.run_timer("apply_retention")

    assert app.host.get_instance(task_id) is None
    assert as_json(await app.get_result(task_id)) == result
    assert any("retention:" in log.message for log in worker_of(app).logs)


async def test_a_result_the_mirror_lost_is_served_whole_from_durables_history_through_the_worker(
    worker_app: Harness,
) -> None:
    app = worker_app
    task_id = await app.create_task()
    result = await app.run_to_end(task_id)
    with sqlite3.connect(app.db_path) as conn:  # the mirror loses the task (its share was restored from backup)
        conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,))
    TaskStore(app.db_path).task_file(task_id).unlink()

    # The worker's durable client reads the history (showHistoryOutput) for the transcript the output leaves out.
    assert as_json(await app.get_result(task_id)) == result
    assert app.final_messages(task_id) == result["result"]["messages"]  # and copied it back, whole
    assert worker_of(app).errors_logged() == []
