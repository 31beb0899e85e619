"""Managing tasks through the registered functions: listing, deleting, idempotent create, retention."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from tests.e2e.conftest import PRINCIPAL, Harness, StartApp, as_json

TRUSTED = {"TRUST_PRINCIPAL_HEADERS": "true"}


async def list_all(app: Harness, *, headers: dict[str, str] | None = None, **params: str) -> list[dict[str, Any]]:
    """Every page of `GET /tasks`, following `next_cursor`."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await app.host.call_http(("GET", "/tasks"), params=query, headers=headers)
        app.responses.append(response)
        assert response.status_code == 200, response.get_body()
        page = as_json(response)
        seen += page["tasks"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_the_list_pages_through_the_callers_tasks_newest_first(start_app: StartApp) -> None:
    app = await start_app(**TRUSTED)
    mine = [await app.create_task(headers={PRINCIPAL: "alice"}) for _ in range(5)]
    theirs = await app.create_task(headers={PRINCIPAL: "bob"})
    for task_id in [*mine, theirs]:
        await app.run_to_end(task_id, headers={PRINCIPAL: "bob" if task_id == theirs else "alice"})

    listed = await list_all(app, headers={PRINCIPAL: "alice"}, limit="2")

    assert [t["task_id"] for t in listed] == list(reversed(mine))
    assert {t["status"] for t in listed} == {"completed"}
    assert [t["task_id"] for t in await list_all(app, headers={PRINCIPAL: "bob"})] == [theirs]
    assert await list_all(app, headers={PRINCIPAL: "alice"}, status="failed") == []


async def test_the_list_shows_a_task_whose_mirror_row_was_never_written(start_app: StartApp) -> None:
    app = await start_app(TASKS_DB_PATH="/dev/null/not-a-directory/tasks.db")  # every SQLite write fails
    task_id = await app.create_task()

    listed = await list_all(app)

    assert [t["task_id"] for t in listed] == [task_id]  # from Durable's recent instances


async def test_bad_list_queries_are_422_without_echoing_them(app: Harness) -> None:
    for params in ({"status": "done-ish"}, {"limit": "-7"}, {"limit": "1000"}, {"limit": "x"}, {"cursor": "%%%"}):
        response = await app.host.call_http(("GET", "/tasks"), params=params)
        app.responses.append(response)
        assert response.status_code == 422, params
        (problem,) = as_json(response)["detail"]
        assert problem["loc"][0] == "query" and next(iter(params.values())) not in problem["msg"]


async def test_a_deleted_task_is_gone_from_both_stores(app: Harness) -> None:
    task_id = await app.create_task()
    await app.run_to_end(task_id)

    deleted = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))

    assert deleted.status_code == 204 and deleted.get_body() == b""
    assert app.host.get_instance(task_id) is None
    assert app.db_rows("tasks") == [] and app.db_rows("messages") == [] and app.db_rows("attempts") == []
    assert list((app.db_path.parent / "tasks").glob("*/*")) == []  # its own file, and nothing beside it
    assert (await app.get_status(task_id)).status_code == 404
    again = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))
    assert again.status_code == 404


async def test_a_running_task_cannot_be_deleted(start_app: StartApp) -> None:
    from tests.support.model_server import Faults

    app = await start_app(faults=Faults(latency=0.3))
    task_id = await app.create_task()
    await app.host.wait_until(lambda: app.host.calls_of(instance_id=task_id) != [], timeout=10)

    refused = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))

    assert refused.status_code == 409 and "cancel it first" in as_json(refused)["detail"]
    await app.run_to_end(task_id)


async def test_another_principals_task_cannot_be_deleted(start_app: StartApp) -> None:
    app = await start_app(**TRUSTED)
    task_id = await app.create_task(headers={PRINCIPAL: "alice"})
    await app.run_to_end(task_id, headers={PRINCIPAL: "alice"})

    response = await app.host.call_http(("DELETE", f"/tasks/{task_id}"), headers={PRINCIPAL: "mallory"})

    assert response.status_code == 404
    assert app.host.get_instance(task_id) is not None


async def test_the_same_idempotency_key_returns_the_same_task(app: Harness) -> None:
    body = {"prompt": "Summarise the notes", "use_aoai": False}
    first = await app.post_task(body, headers={"Idempotency-Key": "order-42"})
    second = await app.post_task(body, headers={"Idempotency-Key": "order-42"})

    assert first.status_code == second.status_code == 202
    assert as_json(first)["task_id"] == as_json(second)["task_id"]
    assert second.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert len(app.host.instances) == 1
    await app.run_to_end(as_json(first)["task_id"])


async def test_the_same_key_with_another_body_is_a_422(app: Harness) -> None:
    await app.post_task({"prompt": "one", "use_aoai": False}, headers={"Idempotency-Key": "k-1"})

    reused = await app.post_task({"prompt": "two", "use_aoai": False}, headers={"Idempotency-Key": "k-1"})

    assert reused.status_code == 422
    assert as_json(reused)["detail"][0]["type"] == "idempotency_key_reused"
    assert len(app.host.instances) == 1
    await app.host.wait_idle()


async def test_the_same_key_asking_for_a_plan_review_is_another_request(app: Harness) -> None:
    body = {"prompt": "Summarise the notes", "use_aoai": False}
    first = await app.post_task(body, headers={"Idempotency-Key": "k-2"})

    reviewed = await app.post_task({**body, "review": "plan"}, headers={"Idempotency-Key": "k-2"})

    assert first.status_code == 202 and reviewed.status_code == 422
    assert as_json(reviewed)["detail"][0]["type"] == "idempotency_key_reused"
    await app.run_to_end(as_json(first)["task_id"])


async def test_concurrent_duplicates_start_one_task(app: Harness) -> None:
    body = {"prompt": "Only once", "use_aoai": False}

    answers = await asyncio.gather(*(app.post_task(body, headers={"Idempotency-Key": "burst"}) for _ in range(8)))

    assert {a.status_code for a in answers} == {202}
    assert len({as_json(a)["task_id"] for a in answers}) == 1
    assert len(app.host.instances) == 1
    await app.run_to_end(as_json(answers[0])["task_id"])
    assert len(app.host.calls_of()) == 1 and len(app.db_rows("tasks")) == 1


async def test_retention_purges_old_histories_but_keeps_results_readable(start_app: StartApp) -> None:
    app = await start_app(DURABLE_RETENTION_DAYS="0.00001")  # about a second
    task_id = await app.create_task()
    result = await app.run_to_end(task_id)
    await asyncio.sleep(1.5)

    await app.host.run_timer("apply_retention")

    assert app.host.get_instance(task_id) is None
    after = await app.get_result(task_id)
    assert after.status_code == 200 and as_json(after) == result


async def test_retention_deletes_tasks_past_task_retention(start_app: StartApp) -> None:
    app = await start_app(TASK_RETENTION_DAYS="0.00001")
    task_id = await app.create_task()
    await app.run_to_end(task_id)
    await asyncio.sleep(1.5)

    await app.host.run_timer("apply_retention")

    assert app.host.get_instance(task_id) is None and app.db_rows("tasks") == []
    assert list((app.db_path.parent / "tasks").glob("*/*")) == []  # the task's own file went with it
    assert (await app.get_status(task_id)).status_code == 404


async def test_a_cancelled_task_is_deleted_only_once_its_run_has_stopped(start_app: StartApp) -> None:
    from tests.support.model_server import Faults

    # The run looks for a cancel every 3 s: it is certainly still running when the first DELETE comes.
    app = await start_app(faults=Faults(latency=1.0), CANCEL_POLL_SECONDS="3")
    task_id = await app.create_task()
    await app.host.wait_until(lambda: app.server.calls > 0, timeout=10)
    cancelled = await app.host.call_http(("POST", f"/tasks/{task_id}/cancel"))
    assert cancelled.status_code == 202

    early = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))
    await app.host.wait_idle(timeout=20)
    late = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))

    assert early.status_code == 409 and "still stopping" in as_json(early)["detail"]
    assert late.status_code == 204
    assert app.db_rows("tasks") == [] and app.db_rows("messages") == []


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_a_forged_cursor_is_a_422_never_a_500_or_a_silent_page(app: Harness) -> None:
    await app.run_to_end(await app.create_task())
    for text in (
        '["\\ud800", "x"]',  # a lone surrogate: SQLite cannot take it
        '["2026-11-25T12:00:00+00:00", "\\udfff"]',
        '{"created_at": 1, "task_id": 2}',  # an object (its two keys would unpack as strings)
        '"ab"',  # a two-character string
        '["yesterday", "x"]',  # not a timestamp
        '["2026-11-25T12:00:00+00:00", "x", "y"]',
        '["2026-11-25T12:00:00+00:00", 7]',
    ):
        response = await app.host.call_http(("GET", "/tasks"), params={"cursor": forged(text)})
        app.responses.append(response)

        assert response.status_code == 422, text
        (problem,) = as_json(response)["detail"]
        assert problem["type"] == "cursor_invalid" and problem["loc"] == ["query", "cursor"]
