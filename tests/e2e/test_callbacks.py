"""Signed callbacks on every final state, delivered by the callback orchestration with retries."""

from __future__ import annotations

from typing import Any

import pytest

import activities.callbacks
from magentic_tasks.webhooks import Delivery, deliver
from orchestrators.callbacks import ACTIVITY_ATTEMPTS
from tests.e2e.conftest import Harness, StartApp, as_json
from tests.support.model_server import Faults
from tests.support.webhook_receiver import new_secret, webhook_receiver

SECRET = new_secret()
RIGHT_AWAY = "0.000000001"  # days (86 µs): a task that has finished is past it
CALLBACKS = {
    "CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
    "CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
    "WEBHOOK_SECRET": SECRET,
}


WILDCARD = {"CALLBACK_ALLOWED_HOSTS": "*.example.com", "WEBHOOK_SECRET": SECRET}


async def post_with_callback(app: Harness, url: str) -> str:
    response = await app.post_task({"prompt": "What is 6 * 7?", "use_aoai": False, "callback_url": url})
    assert response.status_code == 202, response.get_body()
    return str(as_json(response)["task_id"])


async def wait_for_delivery(app: Harness, task_id: str) -> dict[str, Any]:
    callback = await app.host.wait_for(f"{task_id}:callback", timeout=30)
    assert callback.runtime_status == "Completed", callback.output
    output: dict[str, Any] = callback.output
    return output


@pytest.mark.parametrize(("faults", "status"), [(None, "completed"), (Faults(fail_all=True, status=429), "failed")])
async def test_the_signed_event_reaches_the_callback_after_failed_deliveries(
    start_app: StartApp, faults: Faults | None, status: str
) -> None:
    async with webhook_receiver(SECRET, fail_first=2) as receiver:
        app = await start_app(faults=faults, ACTIVITY_MAX_ATTEMPTS=1, **CALLBACKS)
        task_id = await post_with_callback(app, receiver.url)
        result = await app.run_to_end(task_id)

        delivery = await wait_for_delivery(app, task_id)

    assert result["status"] == status
    assert delivery == {"state": "delivered", "attempts": 3, "last_status_code": 204, "last_error": None}
    assert as_json(await app.get_status(task_id))["callback"] == delivery
    (event,) = receiver.received
    assert event["type"] == f"magentic.task.{status}" and event["subject"] == f"tasks/{task_id}"
    assert event["data"]["task_id"] == task_id and event["data"]["status"] == status
    assert event["data"]["stop_code"] == {"completed": "completed", "failed": "error"}[status]
    assert event["data"]["prompt_tokens"] == result["prompt_tokens"]
    assert {webhook_id for _, webhook_id in receiver.attempts} == {event["id"]}  # one id across retries
    assert receiver.rejected == 0
    assert "What is 6 * 7" not in str(event) and "callback" not in str(event["data"])


async def test_a_callback_that_never_answers_ends_failed_within_its_time(start_app: StartApp) -> None:
    async with webhook_receiver(SECRET, fail_first=1000) as receiver:
        app = await start_app(CALLBACK_RETRY_HOURS="0.05", **CALLBACKS)  # 3 minutes: 5, 20, 80 s (virtual)
        task_id = await post_with_callback(app, receiver.url)
        await app.run_to_end(task_id)

        delivery = await wait_for_delivery(app, task_id)

    assert delivery["state"] == "failed" and delivery["last_status_code"] == 503
    assert delivery["attempts"] == len(receiver.attempts) == 4


@pytest.mark.parametrize(
    ("url", "env", "why"),
    [
        ("http://127.0.0.1:9/hook", {"CALLBACK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_SECRET": SECRET}, "https"),
        ("https://evil.example.org/hook", CALLBACKS, "CALLBACK_ALLOWED_HOSTS"),
        ("https://hooks.example.com/hook", {}, "not enabled"),
        ("https://127.0.0.1/hook", {"CALLBACK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_SECRET": SECRET}, "private"),
        ("https://hooks.example.com/hook", {"CALLBACK_ALLOWED_HOSTS": "hooks.example.com"}, "WEBHOOK_SECRET"),
        ("https://hooks.example.com:99999/x", {"CALLBACK_ALLOWED_HOSTS": "hooks.example.com", "WEBHOOK_SECRET": SECRET},
         "port"),
        ("https://[hooks.example.com/", {"CALLBACK_ALLOWED_HOSTS": "hooks.example.com", "WEBHOOK_SECRET": SECRET},
         "not a valid URL"),
        ("https://hooks.example\uff03.com/", {"CALLBACK_ALLOWED_HOSTS": "*.com", "WEBHOOK_SECRET": SECRET},
         "not a valid URL"),
        ("https://x..hooks.example.com/x", WILDCARD, "host name"),
        ("https://" + "a" * 64 + ".example.com/x", WILDCARD, "host name"),
    ],
)
async def test_a_refused_callback_url_is_a_422_and_nothing_starts(
    start_app: StartApp, url: str, env: dict[str, str], why: str
) -> None:
    app = await start_app(**env)

    response = await app.post_task({"prompt": "hi", "use_aoai": False, "callback_url": url})

    assert response.status_code == 422
    (problem,) = as_json(response)["detail"]
    assert problem["loc"] == ["body", "callback_url"] and why in problem["msg"] and url not in problem["msg"]
    app.assert_nothing_created()


async def test_an_allowed_host_written_in_capitals_still_matches(start_app: StartApp) -> None:
    async with webhook_receiver(SECRET) as receiver:
        app = await start_app(**{**CALLBACKS, "CALLBACK_ALLOWED_HOSTS": " LocalHost "})
        task_id = await post_with_callback(app, receiver.url.replace("127.0.0.1", "localhost"))
        await app.run_to_end(task_id)

        delivery = await wait_for_delivery(app, task_id)

    assert delivery["state"] == "delivered" and len(receiver.received) == 1


async def test_a_malformed_webhook_secret_is_a_configuration_error_that_never_shows_it(start_app: StartApp) -> None:
    app = await start_app(CALLBACK_ALLOWED_HOSTS="hooks.example.com", WEBHOOK_SECRET="whsec_abc")

    response = await app.post_task({"prompt": "hi", "use_aoai": False, "callback_url": "https://hooks.example.com/x"})

    assert response.status_code == 500
    assert "WEBHOOK_SECRET" in as_json(response)["detail"] and "whsec_abc" not in response.get_body().decode()
    app.assert_nothing_created()


@pytest.mark.parametrize(("raises", "attempts"), [(1, 1), (ACTIVITY_ATTEMPTS, 2)])
async def test_a_delivery_activity_that_raises_is_retried_and_never_ends_the_delivery(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch, raises: int, attempts: int
) -> None:
    """A worker lost mid-attempt (the activity raises): Durable retries the activity within the
    attempt; an attempt whose activity keeps raising is a failed attempt, and the next one follows."""
    raised: list[str] = []

    async def lost(url: str, event: dict[str, Any], **kwargs: Any) -> Delivery:
        if len(raised) < raises:
            raised.append(url)
            raise ConnectionResetError("the worker went away")
        return await deliver(url, event, **kwargs)

    monkeypatch.setattr(activities.callbacks, "deliver", lost)
    async with webhook_receiver(SECRET) as receiver:
        app = await start_app(**CALLBACKS)
        task_id = await post_with_callback(app, receiver.url)
        await app.run_to_end(task_id)

        delivery = await wait_for_delivery(app, task_id)

    assert len(raised) == raises
    assert delivery == {"state": "delivered", "attempts": attempts, "last_status_code": 204, "last_error": None}
    assert len(receiver.received) == 1


async def test_deleting_a_task_purges_its_callback_delivery_too(start_app: StartApp) -> None:
    async with webhook_receiver(SECRET) as receiver:
        app = await start_app(**CALLBACKS)
        task_id = await post_with_callback(app, receiver.url)
        await app.run_to_end(task_id)
        await wait_for_delivery(app, task_id)

        deleted = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))

    assert deleted.status_code == 204
    assert app.host.get_instance(task_id) is None and app.host.get_instance(f"{task_id}:callback") is None


async def still_delivering(app: Harness, receiver_url: str) -> str:
    """A finished task whose callback orchestration is still retrying (it waits on a retry timer)."""
    task_id = await post_with_callback(app, receiver_url)
    await app.poll_until_finished(task_id)
    await app.host.wait_for(task_id, "Completed")
    await app.host.wait_for(f"{task_id}:callback", "Running")
    await app.host.wait_until(lambda: (app.host.get_instance(f"{task_id}:callback").custom_status or {})
                              .get("attempts", 0) >= 1, 10.0, "a first failed delivery")  # type: ignore[union-attr]
    return task_id


async def test_deleting_a_task_whose_callback_is_still_retrying_stops_it_and_removes_everything(
    start_app: StartApp,
) -> None:
    async with webhook_receiver(SECRET, fail_first=1000) as receiver:
        app = await start_app(CALLBACK_RETRY_HOURS="100", **CALLBACKS)
        task_id = await still_delivering(app, receiver.url)

        deleted = await app.host.call_http(("DELETE", f"/tasks/{task_id}"))
        attempts = len(receiver.attempts)
        if deleted.status_code != 204:  # the starting code's half-delete: end the delivery for the fixture
            app.host.terminate(f"{task_id}:callback")
        await app.host.wait_idle()

    assert deleted.status_code == 204, deleted.get_body()
    assert app.host.get_instance(task_id) is None and app.host.get_instance(f"{task_id}:callback") is None
    assert app.db_rows("tasks") == [] and app.db_rows("messages") == []
    assert len(receiver.attempts) == attempts  # no delivery after the delete


async def test_retention_deletes_tasks_whose_callbacks_still_retry_and_purges_the_others_histories(
    start_app: StartApp,
) -> None:
    async with webhook_receiver(SECRET, fail_first=1000) as receiver:
        app = await start_app(CALLBACK_RETRY_HOURS="100", DURABLE_RETENTION_DAYS=RIGHT_AWAY, **CALLBACKS)
        retrying = await still_delivering(app, receiver.url)
        plain = await app.create_task()
        await app.poll_until_finished(plain)
        await app.host.wait_for(plain, "Completed")
        plain_result = as_json(await app.get_result(plain))

        await app.host.run_timer("apply_retention")

        # A history whose callback still retries stays until the delivery ends; the others are purged.
        assert app.host.get_instance(plain) is None
        assert as_json(await app.get_result(plain)) == plain_result  # served from SQLite
        kept = app.host.get_instance(retrying)
        assert kept is not None and kept.runtime_status == "Completed"
        assert app.host.get_instance(f"{retrying}:callback").runtime_status == "Running"  # type: ignore[union-attr]

        app = await start_app(CALLBACK_RETRY_HOURS="100", TASK_RETENTION_DAYS=RIGHT_AWAY, **CALLBACKS)
        doomed = await still_delivering(app, receiver.url)

        await app.host.run_timer("apply_retention")

    assert app.host.get_instance(doomed) is None and app.host.get_instance(f"{doomed}:callback") is None
    assert [row for row in app.db_rows("tasks") if row["task_id"] == doomed] == []


async def test_a_task_without_a_callback_shows_none(app: Harness) -> None:
    task_id = await app.create_task()
    await app.run_to_end(task_id)

    assert as_json(await app.get_status(task_id))["callback"] is None
