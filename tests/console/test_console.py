"""console/console.js (with index.html and console.css): the function key, "My tasks" (filter, paging,
refresh), one owner's view, answers that are errors, an unreachable app, a phone-sized window and
the keyboard."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.console.conftest import KEY, PHONE, Console, StartConsole, expect, give_key, shown_status, start_from_form
from tests.e2e.conftest import as_json
from tests.support.model_server import Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


async def test_the_function_key_is_asked_for_once_and_kept_for_the_browser_session(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console()
    page = await console.open(app, key=None)
    await expect(page.get_by_role("alert")).to_have_text(
        "401: a function key is needed, or the one given is wrong (Function key, above)")
    await expect(page.get_by_label("Function key", exact=True)).to_be_focused()

    await give_key(page)
    await expect(page.locator("#key-state")).to_have_text("Function key: set")
    await page.reload()
    await expect(page.locator("#tasks")).to_have_attribute("data-state", "shown")
    assert await page.get_by_label("Function key", exact=True).input_value() == ""  # never written back

    await page.locator("#key-state").click()
    await page.get_by_role("button", name="Forget key").click()
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.get_by_role("alert")).to_contain_text("401: ")
    assert await page.evaluate("Object.keys(localStorage).length") == 0  # only ever in sessionStorage


async def test_my_tasks_are_filtered_by_status_paged_and_refreshed(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=0), MODEL_TIMEOUT_SECONDS=600)
    done = await app.create_task()
    await app.run_to_end(done)
    app.server.set_faults(hold_after=0)  # from now on the model holds every answer: tasks stay running
    waiting = [await app.create_task() for _ in range(20)]
    page = await console.open(app)

    items = page.locator("#tasks li")
    await expect(items).to_have_count(20)  # newest first, a page of 20
    assert await items.first.get_attribute("data-task-id") == waiting[-1]
    await page.get_by_role("button", name="More tasks").click()
    await expect(items).to_have_count(21)
    await expect(items.last).to_have_attribute("data-task-id", done)
    await expect(page.get_by_role("button", name="More tasks")).to_be_hidden()

    await page.get_by_label("Status").select_option("completed")
    await expect(items).to_have_count(1)
    await expect(items.first.locator(".badge")).to_have_text("completed")
    await page.get_by_label("Status").select_option("failed")
    await expect(page.locator("#list-state")).to_have_text("No failed tasks.")

    await page.get_by_label("Status").select_option("")
    await expect(items).to_have_count(20)
    newest = await app.create_task()
    await page.get_by_role("button", name="Refresh").click()
    await expect(items.first).to_have_attribute("data-task-id", newest)
    await expect(items).to_have_count(20)


async def test_one_owners_console_never_shows_anothers_tasks(start_console: StartConsole, console: Console) -> None:
    app = await start_console(sessions={"alice-session": "alice", "bob-session": "bob"}, WEBSITE_AUTH_ENABLED="true")
    alice = await console.open(app, session="alice-session")
    hers = await start_from_form(alice, "Alice's question")
    await shown_status(alice, "completed")

    bob = await console.open(app, session="bob-session")
    await expect(bob.locator("#list-state")).to_have_text("No tasks yet.")
    await bob.get_by_label("Status").select_option("completed")
    await expect(bob.locator("#list-state")).to_have_text("No completed tasks.")
    await bob.goto(f"{app.host.base_url}/console/#/tasks/{hers}")
    await expect(bob.locator("#task .error")).to_have_text("404: Task not found")
    await expect(bob.locator(".connection")).to_have_text("404: Task not found")
    await expect(bob.locator("#task .messages li")).to_have_count(0)
    await expect(bob.locator("#task .prompt")).not_to_contain_text("Alice")

    await alice.get_by_role("button", name="Refresh").click()
    await expect(alice.locator("#tasks li")).to_have_count(1)
    owners = {request.headers.get("x-ms-client-principal-id") for request, _ in app.host.http_exchanges
              if not request.url.split("?")[0].endswith((".js", ".css", "/console/"))}
    assert owners == {"alice", "bob"}  # every API call was signed in, by its own session cookie


async def test_a_server_error_shows_the_apis_detail(start_console: StartConsole, console: Console) -> None:
    app = await start_console(MAX_TURNS="not-a-number")
    page = await console.open(app, key=None)
    await page.get_by_label("Function key", exact=True).fill(KEY)
    await page.get_by_role("button", name="Use key").click()
    await expect(page.get_by_role("alert")).to_contain_text("500: Server configuration error: MAX_TURNS: ")
    await expect(page.locator("#list-state")).to_have_text("The tasks could not be loaded.")


async def test_a_sign_in_that_expired_is_said_so_and_no_redirect_is_followed(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console()
    page = await console.open(app)
    login = {"status": 302, "headers": {"Location": "https://login.example/authorize"}}
    await page.route(re.compile(r"/tasks\?"), lambda route: route.fulfill(**login))  # as a sign-in proxy answers

    await page.get_by_role("button", name="Refresh").click()

    await expect(page.get_by_role("alert")).to_have_text(
        "302: the app sent this request to a sign-in page: reload the page to sign in again")
    assert console.watch_of(page).elsewhere() == []


async def test_an_unreachable_app_is_said_so_and_the_console_recovers(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console()
    page = await console.open(app)

    await page.context.set_offline(True)
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The app cannot be reached: check the network connection; the console tries again.")
    await page.context.set_offline(False)
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#list-state")).to_have_text("No tasks yet.")


async def no_sideways_scroll(page: Any) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_a_phone_sized_window_shows_one_column_with_every_control(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=1))
    task_id = await app.create_task(prompt="A long prompt " * 40)
    await app.run_to_end(task_id)
    page = await console.open(app, viewport=PHONE)

    for name in ("Prompt", "Model", "Provider", "Review the plan before the team runs", "Status"):
        await expect(page.get_by_label(name)).to_be_visible()
    await expect(page.get_by_role("button", name="Start task")).to_be_in_viewport(ratio=1)
    await no_sideways_scroll(page)

    await page.locator(f'#tasks a[href="#/tasks/{task_id}"]').click()
    await shown_status(page, "completed")
    await expect(page.get_by_role("heading", name="New task")).to_be_hidden()  # one thing at a time
    await expect(page.get_by_role("button", name="Delete")).to_be_visible()
    await no_sideways_scroll(page)
    await page.get_by_role("link", name="← All tasks").click()
    await expect(page.get_by_role("heading", name="My tasks")).to_be_visible()


async def tab_to(page: Any, target: Any, presses: int = 80) -> None:
    """Press Tab until `target` has the focus (it must be reachable by keyboard alone)."""
    for _ in range(presses):
        if await target.evaluate("element => element === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab")


async def test_every_control_has_a_name_and_the_keyboard_reaches_it(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=1))
    page = await console.open(app)
    await page.get_by_label("Prompt").focus()
    await page.keyboard.type("What is 6 * 7?")
    await tab_to(page, page.get_by_role("combobox", name="Provider"))
    await page.keyboard.press("ArrowDown")  # OpenAI or compatible
    await tab_to(page, page.get_by_role("checkbox", name="Review the plan"))
    await page.keyboard.press("Space")
    await tab_to(page, page.get_by_role("button", name="Start task"))
    await page.keyboard.press("Enter")

    await shown_status(page, "awaiting_input")
    for name in ("Cancel", "Approve", "Revise", "Reject"):
        await tab_to(page, page.get_by_role("button", name=name, exact=True))
    await tab_to(page, page.get_by_role("textbox", name="Revised plan"))
    await tab_to(page, page.get_by_role("button", name="Approve"))
    await page.keyboard.press("Enter")
    await shown_status(page, "completed")
    await tab_to(page, page.get_by_role("button", name="Delete"))
    for role, name in [("combobox", "Status"), ("button", "Refresh"), ("textbox", "Model"),
                       ("textbox", "Callback URL (optional)")]:
        await tab_to(page, page.get_by_role(role, name=name))
    assert as_json(await app.get_result(task_id_of(page)))["status"] == "completed"


def task_id_of(page: Any) -> str:
    return str(page.url.rsplit("/", 1)[1])
