"""Following and cancelling tasks through the registered functions: `GET /tasks/{id}/messages`,
`GET /tasks/{id}`'s progress and `POST /tasks/{id}/cancel`, with real runs against the scripted model."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import azure.functions as func
import pytest

from tests.e2e.conftest import RUN_ACTIVITY, Harness, StartApp, as_json
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

UNTIL_STOPPED = Script(rounds_before_satisfied=10_000)  # the request is never satisfied
POLL = 0.1  # CANCEL_POLL_SECONDS of these tests
OWNER = {"X-MS-CLIENT-PRINCIPAL-ID": "alice"}


async def cancel(app: Harness, task_id: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return await app.host.call_http("cancel_task", route_params={"task_id": task_id}, headers=headers)


async def messages(
    app: Harness, task_id: str, headers: dict[str, str] | None = None, **params: Any
) -> func.HttpResponse:
    return await app.host.call_http(
        "get_task_messages", route_params={"task_id": task_id}, headers=headers,
        params={name: str(value) for name, value in params.items()},
    )


async def status_of(app: Harness, task_id: str) -> dict[str, Any]:
    response = await app.get_status(task_id)
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = as_json(response)
    return body


async def follow(app: Harness, task_id: str, after: int = 0, pages: int | None = None) -> tuple[list[Any], int, bool]:
    """Follow the stream from `after` with small pages and long polls: (attempt, message) pairs,
    the cursor to resume from and whether the stream ended (or `pages` pages were read)."""
    seen: list[Any] = []
    finished = False
    while not finished and (pages is None or pages > 0):
        response = await messages(app, task_id, after=after, limit=2, wait=5)
        assert response.status_code == 200, response.get_body()
        page = as_json(response)
        assert page["next_after"] == after + len(page["messages"])
        seen += [(page["attempt"], message) for message in page["messages"]]
        after, finished = page["next_after"], page["finished"]
        pages = None if pages is None else pages - 1
    return seen, after, finished


async def until_final(app: Harness, task_id: str, timeout: float = 15.0) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while (body := await status_of(app, task_id))["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
    return body


async def test_a_client_following_live_and_resuming_gets_exactly_the_final_transcript(start_app: StartApp) -> None:
    app = await start_app(Script(rounds_before_satisfied=3), Faults(latency=0.05))
    app.server.hold("final_answer")  # the run stays running until its progress has been read
    task_id = await app.create_task()

    first, cursor, finished = await follow(app, task_id, pages=2)  # then the client drops the connection
    assert not finished and cursor == len(first) > 0
    progress = (await status_of(app, task_id))["progress"]  # while it runs, progress from the mirror
    app.server.release("final_answer")
    rest, _, finished = await follow(app, task_id, after=cursor)  # and resumes from its cursor

    assert finished
    result = await app.run_to_end(task_id)
    assert result["status"] == "completed"
    followed = first + rest
    assert {attempt for attempt, _ in followed} == {1}
    assert [message for _, message in followed] == result["result"]["messages"]  # none missed, none twice
    assert progress is not None and progress["attempt"] == 1 and progress["messages"] >= len(first)
    assert 0 < progress["prompt_tokens"] <= result["prompt_tokens"]  # the orchestrator's tokens included
    assert (await status_of(app, task_id))["progress"] is None  # only while running
    assert as_json(await messages(app, task_id, after=len(followed), wait=1)) == {
        "task_id": task_id, "status": "completed", "attempt": None, "messages": [],
        "next_after": len(followed), "finished": True,
    }


async def test_progress_counts_rounds_speakers_and_every_token_so_far(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.05), MAX_TURNS=200, CANCEL_POLL_SECONDS=POLL)
    task_id = await app.create_task()
    await app.host.wait_until(lambda: len(app.db_rows("messages")) >= 6, 10.0, "a few rounds")

    progress = (await status_of(app, task_id))["progress"]
    streamed = [row for row in app.db_rows("messages") if row["task_id"] == task_id]

    assert progress["rounds"] >= 2 and progress["last_speaker"] in {"MagenticOneOrchestrator", "Coder"}
    assert progress["messages"] <= len(streamed)
    served = app.server.served
    assert 0 < progress["prompt_tokens"] <= served.prompt_tokens
    assert 0 < progress["completion_tokens"] <= served.completion_tokens
    assert (await cancel(app, task_id)).status_code == 202
    await app.host.wait_idle()


async def test_a_cancel_in_the_middle_of_a_model_call_stops_the_run_within_seconds(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=5.0, notice_hangups=True), CANCEL_POLL_SECONDS=POLL)
    task_id = await app.create_task()
    await app.host.wait_until(lambda: app.server.calls >= 1, 10.0, "the first model call")

    cancelled_at = time.monotonic()
    response = await cancel(app, task_id)
    await app.host.wait_idle()
    stopped_after = time.monotonic() - cancelled_at

    assert response.status_code == 202
    assert as_json(response) == {"task_id": task_id, "status": "cancelled",
                                 "detail": "Cancelled; the run stops within seconds"}
    # The server sees the hang-up when the client's socket closes, which may come after the activity ended.
    await app.host.wait_until(lambda: app.server.requests[0].ended_at is not None, 5.0, "the cut-off call to end")
    (call,) = app.server.requests  # the call in flight was abandoned, and no other call started
    assert call.abandoned and call.ended_at is not None and call.ended_at - cancelled_at < 2.0
    assert stopped_after < 3.0  # well before the 5 s call would have answered
    await asyncio.sleep(0.3)
    assert app.server.calls == 1
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled" and result["result"]["task_result"]["stop_reason"] == "cancelled"
    assert result["result"]["messages"][0]["source"] == "user"  # the transcript so far is kept
    assert result["prompt_tokens"] == 0  # the cut-off call was never answered, so nothing was spent
    (row,) = app.db_rows("tasks")
    instance = app.host.get_instance(task_id)
    assert row["status"] == "cancelled" and instance is not None and instance.runtime_status == "Terminated"
    assert app.final_messages(task_id) == result["result"]["messages"]


async def test_a_cancel_mid_round_keeps_the_transcript_and_tokens_and_both_stores_agree(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=0.05), MAX_TURNS=200, CANCEL_POLL_SECONDS=POLL)
    task_id = await app.create_task()
    await app.host.wait_until(lambda: len(app.db_rows("messages")) >= 4, 10.0, "the run to be under way")

    cancelled_at = time.monotonic()
    first = await cancel(app, task_id)
    again = await cancel(app, task_id)  # harmless: the current state
    assert (await status_of(app, task_id))["status"] == "cancelled"  # at once, from Durable state
    followed, _, finished = await follow(app, task_id)  # the stream ends once the run has drained
    await app.host.wait_idle()

    assert first.status_code == 202 and as_json(first)["status"] == "cancelled"
    assert again.status_code == 200 and as_json(again) == {
        "task_id": task_id, "status": "cancelled", "detail": "The task was already cancelled"}
    late = [r for r in app.server.requests if r.received_at > cancelled_at + POLL + 0.5]
    assert late == []  # no model call started after the run saw the cancel
    (call,) = app.host.calls_of(RUN_ACTIVITY, task_id)
    assert call.finished_at is not None
    result = as_json(await app.get_result(task_id))
    run = result["result"]
    assert result["status"] == run["task_result"]["status"] == "cancelled"
    assert result["error"] == f"cancelled through POST /tasks/{task_id}/cancel"
    assert finished and [message for _, message in followed] == run["messages"] and len(run["messages"]) >= 4
    assert 0 < result["prompt_tokens"] <= app.server.served_prompt_tokens
    assert run["usage_by_agent"]["MagenticOneOrchestrator"]["prompt_tokens"] > 0
    (row,) = app.db_rows("tasks")
    stored = json.loads(row["outcome_json"])
    assert (row["status"], stored["stop_reason"], stored["prompt_tokens"]) == (
        "cancelled", "cancelled", result["prompt_tokens"])
    assert app.final_messages(task_id) == run["messages"]
    instance = app.host.get_instance(task_id)
    assert instance is not None and instance.runtime_status == "Terminated" and instance.output == result["error"]
    app.host.purge(task_id)
    assert as_json(await app.get_result(task_id)) == result  # the same answer from SQLite alone


async def test_cancelling_a_finished_unknown_or_someone_elses_task_is_refused(start_app: StartApp) -> None:
    app = await start_app(TRUST_PRINCIPAL_HEADERS="true")
    task_id = await app.create_task(headers=OWNER)
    await app.run_to_end(task_id, headers=OWNER)

    finished = await cancel(app, task_id, OWNER)
    assert finished.status_code == 409
    assert as_json(finished) == {
        "detail": "Task is already completed; only a pending or running task can be cancelled"}
    for response in (await cancel(app, task_id, {"X-MS-CLIENT-PRINCIPAL-ID": "mallory"}), await cancel(app, "nope"),
                     await messages(app, task_id, {"X-MS-CLIENT-PRINCIPAL-ID": "mallory"})):
        assert response.status_code == 404 and as_json(response) == {"detail": "Task not found"}
    bad = await cancel(app, "bad id!")
    assert bad.status_code == 422 and as_json(bad)["detail"][0]["loc"] == ["path", "task_id"]
    assert as_json(await app.get_status(task_id, OWNER))["status"] == "completed"  # nothing changed


@pytest.mark.parametrize(("params", "loc"), [
    ({"after": "-1"}, "after"), ({"after": "x"}, "after"), ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
    ({"wait": "31"}, "wait"), ({"wait": "nan"}, "wait"), ({"after": "9" * 40}, "after"),
])
async def test_invalid_query_parameters_are_a_422_in_fastapis_shape(
    start_app: StartApp, params: dict[str, str], loc: str
) -> None:
    app = await start_app()
    task_id = await app.create_task()

    response = await app.host.call_http("get_task_messages", route_params={"task_id": task_id}, params=params)

    assert response.status_code == 422
    (problem,) = as_json(response)["detail"]
    assert problem["loc"] == ["query", loc] and problem["msg"]
    await app.run_to_end(task_id)


async def test_a_long_poll_waits_for_the_next_message_and_answers_empty_at_its_bound(start_app: StartApp) -> None:
    app = await start_app(UNTIL_STOPPED, Faults(latency=1.0), MAX_TURNS=200, CANCEL_POLL_SECONDS=POLL)
    task_id = await app.create_task()
    first = as_json(await messages(app, task_id, wait=10))  # the prompt, as soon as it is stored
    cursor = first["next_after"]

    started = time.monotonic()
    waited = as_json(await messages(app, task_id, after=cursor, wait=10))  # the next one is model calls away
    took = time.monotonic() - started
    empty_started = time.monotonic()
    empty = as_json(await messages(app, task_id, after=10_000, wait=0.3))
    empty_took = time.monotonic() - empty_started

    assert first["messages"][0]["source"] == "user" and not first["finished"]
    assert waited["messages"] and waited["next_after"] > cursor and 0.2 < took < 8.0
    assert empty["messages"] == [] and empty["next_after"] == 10_000 and not empty["finished"]
    assert 0.3 <= empty_took < 2.0
    assert (await cancel(app, task_id)).status_code == 202
    await app.host.wait_idle()
