"""console/task.js: a plan approved, revised or rejected while the task waits for review; a running
task cancelled; a finished one deleted; the result with its tokens and time."""

from __future__ import annotations

import pytest

from tests.console.conftest import Console, StartConsole, expect, shown_status, start_from_form
from tests.e2e.conftest import as_json
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

SCRIPT = Script(rounds_before_satisfied=1, plan="- Coder: compute 6 * 7.\n- Report **the result**.")
REVISED = "- Coder: multiply 6 by 7, then check it by adding 6 seven times.\n- Report the result."


async def awaiting_review(start_console: StartConsole, console: Console) -> tuple[object, object, str]:
    app = await start_console(SCRIPT)
    page = await console.open(app)
    task_id = await start_from_form(page, "What is 6 * 7?", review=True)
    await shown_status(page, "awaiting_input")
    review = page.get_by_role("region", name="Plan review")
    await expect(review.locator(".plan li")).to_have_text(["Coder: compute 6 * 7.", "Report the result."])
    await expect(review.locator(".plan strong")).to_have_text("the result")
    await expect(page.get_by_label("Revised plan")).to_have_value(SCRIPT.plan)
    return app, page, task_id


async def test_an_approved_plan_runs_to_the_end(start_console: StartConsole, console: Console) -> None:
    app, page, _ = await awaiting_review(start_console, console)

    await page.get_by_role("button", name="Approve").click()

    await expect(page.locator("#notice")).to_have_text("Plan approved; the run goes on")
    await shown_status(page, "completed")
    await expect(page.get_by_role("region", name="Plan review")).to_be_hidden()
    assert app.server.calls_by_kind["plan"] == 1  # the approved plan, not a new one


async def test_a_revised_plan_is_the_one_the_team_follows(start_console: StartConsole, console: Console) -> None:
    app, page, task_id = await awaiting_review(start_console, console)

    await page.get_by_label("Revised plan").fill(REVISED)
    await page.get_by_role("button", name="Revise").click()

    await shown_status(page, "completed")
    result = as_json(await app.get_result(task_id))
    assert REVISED in result["result"]["messages"][1]["content"]
    await expect(page.locator(".messages .message").nth(1)).to_contain_text("check it by adding 6 seven times")


async def test_a_rejected_plan_ends_the_task_cancelled(start_console: StartConsole, console: Console) -> None:
    app, page, _ = await awaiting_review(start_console, console)

    await page.get_by_role("button", name="Reject").click()

    await shown_status(page, "cancelled")
    await expect(page.locator(".result .facts")).to_contain_text("Stop reasonplan rejected")
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    await expect(page.get_by_role("button", name="Delete")).to_be_visible()
    assert app.server.calls_by_kind == {"facts": 1, "plan": 1}


async def test_a_running_task_is_cancelled(start_console: StartConsole, console: Console) -> None:
    # The model answers facts, plan and the first ledger, then holds the Coder's turn: the task runs on.
    app = await start_console(Script(rounds_before_satisfied=10_000), Faults(hold_after=3),
                              CANCEL_POLL_SECONDS=0.1, MODEL_TIMEOUT_SECONDS=600)
    page = await console.open(app)
    task_id = await start_from_form(page, "Count forever")
    await shown_status(page, "running")
    await expect(page.locator(".messages .message")).to_have_count(3)
    await expect(page.locator(".progress")).to_contain_text("last speaker MagenticOneOrchestrator")  # live

    await page.get_by_role("button", name="Cancel").click()

    await shown_status(page, "cancelled")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")
    await expect(page.locator(".result .facts")).to_contain_text("Stop reasoncancelled")
    result = as_json(await app.get_result(task_id))
    assert result["status"] == "cancelled"
    await expect(page.locator(".messages .message")).to_have_count(len(result["result"]["messages"]))
    tokens = f"{result['prompt_tokens']:,} prompt + {result['completion_tokens']:,} completion"
    await expect(page.locator(".result .facts")).to_contain_text(tokens)


async def test_a_finished_task_is_deleted(start_console: StartConsole, console: Console) -> None:
    app = await start_console(Script(rounds_before_satisfied=0))
    kept, gone = await app.create_task(), await app.create_task()
    for task_id in (kept, gone):
        await app.run_to_end(task_id)
    page = await console.open(app)
    await page.locator(f'#tasks a[href="#/tasks/{gone}"]').click()
    await shown_status(page, "completed")

    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Keep it").click()
    await page.get_by_role("button", name="Delete").click()
    await page.get_by_role("button", name="Confirm delete").click()

    await expect(page.locator("#notice")).to_have_text(f"Task {gone} deleted.")
    await expect(page.locator("#tasks li")).to_have_count(1)
    await expect(page.locator("#tasks li")).to_have_attribute("data-task-id", kept)
    await expect(page.locator("#task")).to_be_hidden()
    assert (await app.get_status(gone)).status_code == 404
    assert (await app.get_status(kept)).status_code == 200
