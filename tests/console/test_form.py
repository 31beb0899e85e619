"""console/form.js: a task started from the "New task" form, watched live until it finishes, and the
API's answer when it refuses one."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.console.conftest import KEY, Console, StartConsole, expect, shown_status, start_from_form
from tests.e2e.conftest import as_json
from tests.support.model_server import Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


async def test_a_task_started_from_the_form_is_watched_until_it_finishes(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=2))
    page = await console.open(app)
    await expect(page.locator("#list-state")).to_have_text("No tasks yet.")

    task_id = await start_from_form(page, "What is 6 * 7?", model="gpt-4o")

    await shown_status(page, "completed")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")
    result = as_json(await app.get_result(task_id))
    run = result["result"]
    tokens = result["prompt_tokens"], result["completion_tokens"]
    facts = page.locator(".result .facts")
    await expect(facts).to_contain_text(f"Tokens{tokens[0]:,} prompt + {tokens[1]:,} completion = {sum(tokens):,}")
    seconds = run["execution_time"]
    # As JavaScript's toFixed rounds: an exact tie (0.125) goes up, where Python's format goes to even.
    shown = Decimal(seconds).quantize(Decimal("0.01" if seconds < 10 else "0.1"), ROUND_HALF_UP)
    await expect(facts).to_contain_text(f"Time{shown} s")
    await expect(page.locator(".answer")).to_have_text(run["task_result"]["final_answer"])
    messages = page.locator(".messages .message")
    await expect(messages).to_have_count(len(run["messages"]))
    agents = [(await item.locator(".agent").inner_text()).split(" · ")[0] for item in await messages.all()]
    assert agents == [m["source"] for m in run["messages"]]
    await expect(page.locator("#tasks li")).to_have_count(1)
    await expect(page.locator(f'#tasks li[data-task-id="{task_id}"] .badge')).to_have_text("completed")

    (create,) = [request for request, _ in app.host.http_exchanges if request.method == "POST"]
    assert create.headers["x-functions-key"] == KEY and create.headers["idempotency-key"]
    assert as_json(await app.get_status(task_id))["prompt"] == "What is 6 * 7?"


async def test_a_refused_task_shows_the_apis_detail_and_starts_nothing(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console()
    page = await console.open(app)

    await page.get_by_label("Prompt").fill("Hello")
    await page.get_by_label("Model").fill("no such model!")
    await page.get_by_label("Provider").select_option(label="OpenAI or compatible")
    await page.get_by_role("button", name="Start task").click()

    alert = page.get_by_role("alert")
    pattern = "'^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$'"
    await expect(alert).to_have_text(f"422: model_name: String should match pattern {pattern}")
    await page.get_by_label("Model").fill("")
    await page.get_by_label("Provider").select_option(label="Azure OpenAI")  # not configured on this app
    await page.get_by_role("button", name="Start task").click()
    await expect(alert).to_contain_text("422: use_aoai: ")
    await expect(alert).to_contain_text("Azure OpenAI is not configured on this server")
    app.assert_nothing_created()


async def test_the_team_options_chosen_in_the_form_are_the_tasks(start_console: StartConsole, console: Console) -> None:
    app = await start_console(Script(rounds_before_satisfied=2), ENABLE_WEB_SURFER="false")
    page = await console.open(app)

    await page.get_by_text("Team options").click()  # folded away until asked for
    await page.get_by_label("Agents").select_option(["code"])
    await page.get_by_label("Max turns").fill("5")
    await page.get_by_label("Deadline in seconds").fill("120")
    task_id = await start_from_form(page, "What is 6 * 7?", model="gpt-4o")

    await shown_status(page, "completed")
    team = as_json(await app.get_status(task_id))["team"]
    assert (team["agents"], team["max_turns"], team["deadline_seconds"]) == (["code"], 5, 120.0)
    (create,) = [request for request, _ in app.host.http_exchanges if request.method == "POST"]
    assert "max_tokens" not in as_json(create)  # an empty field is left out: the app's default

