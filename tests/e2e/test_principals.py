"""Whose task it is, through the registered HTTP functions: `X-MS-CLIENT-PRINCIPAL-ID` names the
caller only where it can be trusted (App Service authentication on, so the platform strips forged
headers and sets WEBSITE_AUTH_ENABLED=True; or TRUST_PRINCIPAL_HEADERS=true). Elsewhere any caller
holding a function key could send it, so it is ignored: it neither claims a task nor opens one."""

from __future__ import annotations

import pytest

from magentic_tasks.settings import get_settings
from tests.e2e.conftest import PRINCIPAL, Harness, StartApp, as_json

ALICE, BOB = {PRINCIPAL: "alice"}, {PRINCIPAL: "bob"}


async def _reads(app: Harness, task_id: str, headers: dict[str, str] | None) -> list[int]:
    return [(await app.get_status(task_id, headers)).status_code, (await app.get_result(task_id, headers)).status_code]


@pytest.mark.parametrize(
    ("website_auth", "operator_trust"), [("True", None), (None, "true")], ids=["app-service-auth", "operator-setting"]
)
async def test_a_trusted_principal_sees_only_its_own_tasks(
    start_app: StartApp, website_auth: str | None, operator_trust: str | None
) -> None:
    app = await start_app(WEBSITE_AUTH_ENABLED=website_auth, TRUST_PRINCIPAL_HEADERS=operator_trust)
    task_id = await app.create_task(headers=ALICE)
    await app.run_to_end(task_id, headers=ALICE)

    assert await _reads(app, task_id, ALICE) == [200, 200]
    for stranger in (BOB, None):
        for response in (await app.get_status(task_id, stranger), await app.get_result(task_id, stranger)):
            assert response.status_code == 404
            assert as_json(response) == {"detail": "Task not found"}
    (row,) = app.db_rows("tasks")
    assert row["owner"] == "alice"
    assert app.host.get_instance(task_id) is not None


async def test_without_trust_the_header_claims_nothing(start_app: StartApp) -> None:
    app = await start_app(WEBSITE_AUTH_ENABLED=None, TRUST_PRINCIPAL_HEADERS=None)
    task_id = await app.create_task(headers=ALICE)
    await app.run_to_end(task_id)

    (row,) = app.db_rows("tasks")
    assert row["owner"] is None
    for caller in (ALICE, BOB, None):
        assert await _reads(app, task_id, caller) == [200, 200]


async def test_without_trust_a_forged_header_cannot_read_a_principals_task(
    start_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alice's task was created while App Service authentication was on; then it was turned off.
    app = await start_app(WEBSITE_AUTH_ENABLED="True")
    task_id = await app.create_task(headers=ALICE)
    await app.run_to_end(task_id, headers=ALICE)
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "False")
    get_settings.cache_clear()

    for forged in (ALICE, BOB, None):
        assert await _reads(app, task_id, forged) == [404, 404]


async def test_a_queued_task_belongs_to_its_messages_owner_or_else_to_no_caller(start_app: StartApp) -> None:
    app = await start_app(WEBSITE_AUTH_ENABLED="True")
    message = {"prompt": "What is 6 * 7?", "use_aoai": False}
    await app.host.send_queue_message("magentic-tasks", {**message, "task_id": "for-alice", "owner": "alice"})
    await app.host.send_queue_message("magentic-tasks", {**message, "task_id": "for-no-one"})
    await app.run_to_end("for-alice", headers=ALICE)
    await app.host.wait_for("for-no-one")
    await app.host.wait_idle()

    assert await _reads(app, "for-alice", ALICE) == [200, 200]
    for stranger in (BOB, None):
        assert await _reads(app, "for-alice", stranger) == [404, 404]
    starter = {PRINCIPAL: "service:storage-queue"}
    for caller in (ALICE, BOB, None, starter):
        assert await _reads(app, "for-no-one", caller) == [404, 404]
        route = {"task_id": "for-no-one"}
        for function, body in (("cancel_task", None), ("submit_task_input", {"action": "approve"}),
                               ("get_task_messages", None), ("delete_task", None)):
            response = await app.host.call_http(function, route_params=route, headers=caller, body=body)
            app.responses.append(response)
            assert (response.status_code, as_json(response)) == (404, {"detail": "Task not found"}), function
    listed = {}
    for name, caller in (("alice", ALICE), ("bob", BOB), ("none", None), ("starter", starter)):
        response = await app.host.call_http(("GET", "/tasks"), headers=caller)
        app.responses.append(response)
        listed[name] = [task["task_id"] for task in as_json(response)["tasks"]]
    assert listed == {"alice": ["for-alice"], "bob": [], "none": [], "starter": []}
    owners = {row["task_id"]: row["owner"] for row in app.db_rows("tasks")}
    assert owners == {"for-alice": "alice", "for-no-one": "service:storage-queue"}
    assert app.host.get_instance("for-no-one") is not None  # nothing was cancelled or deleted
