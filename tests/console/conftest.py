"""The console in a real browser: Debian's Chromium driven by Playwright against the app served over
real HTTP by the fake host (function keys required, as in Azure), with the scripted model.

`start_console(script, faults, sessions=..., **env)` starts the app (as tests/e2e's `start_app`,
every API response checked against the OpenAPI document at the end); `console.open(app)` opens a
page on it, watched: at the end of the test no page may have thrown, broken its Content-Security-
Policy, opened a dialog or sent a request anywhere but the app's origin. No test reaches beyond
127.0.0.1: Chromium resolves no name. Tests wait for states (Playwright's auto-waiting, the host's
wait helpers), never for time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import HOST_JSON, TIMER_SCALE, Harness, app_environment, app_scope, set_environment
from tests.support.durable_host import APP_SERVICE_AUTH_COOKIE, FakeDurableHost
from tests.support.model_server import Faults, Script, ScriptedModelServer

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Request

try:
    from playwright.async_api import expect
except ImportError:  # then every browser test skips, saying why (`chromium_missing`)
    expect = None

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root; the tests open only the app's own pages
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no name resolves: 127.0.0.1 only
]
KEY = "console-test-function-key"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# An upper bound for a state to be reached (a task to run, a page to answer), never a pause.
STATE_TIMEOUT_MS = 30_000


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if shutil.which(CHROMIUM) is None:
        return (f"chromium is missing ({CHROMIUM}): scripts/test.sh installs Debian's chromium when run as root "
                "(apt-get install chromium); or set TEST_CHROMIUM to a Chromium executable")
    return None


class StartConsole(Protocol):
    async def __call__(self, script: Script | None = None, faults: Faults | None = None, *,
                       sessions: Mapping[str, str] | None = None, **env: object) -> Harness: ...


@pytest.fixture
async def start_console(
    start_model_server: Callable[..., ScriptedModelServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> AsyncIterator[StartConsole]:
    """Start the app on a fake host that requires the function key `KEY` at its front door;
    `sessions` turns on App Service sign-in (session cookie value: principal id)."""
    import function_app

    async with app_scope() as (stack, harnesses):

        async def start(script: Script | None = None, faults: Faults | None = None, *,
                        sessions: Mapping[str, str] | None = None, **env: object) -> Harness:
            model = start_model_server(script, faults)
            values = app_environment(model, tmp_path, "openai", env)
            set_environment(monkeypatch, values)
            host = FakeDurableHost(function_app.app, host_json=HOST_JSON, timer_scale=TIMER_SCALE,
                                   function_keys=[KEY], auth_sessions=sessions)
            await stack.enter_async_context(host)
            harness = Harness(host=host, server=model, db_path=Path(str(values["TASKS_DB_PATH"])),
                              provider="openai", finish_timeout=STATE_TIMEOUT_MS / 1000)
            harnesses.append(harness)
            return harness

        yield start


@dataclass
class Watch:
    """What one page did that a safe console never does."""

    origin: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def request(self, request: Request) -> None:
        self.requests.append(request.url)

    async def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def console(self, message: ConsoleMessage) -> None:
        if any(word in message.text for word in ("Content Security Policy", "Trusted", "Uncaught")):
            self.errors.append(message.text)

    def elsewhere(self) -> list[str]:
        """Requests to anywhere but the app (data: URLs are no request)."""
        return [url for url in self.requests
                if not url.startswith("data:") and "{0.scheme}://{0.netloc}".format(urlsplit(url)) != self.origin]

    def problems(self) -> list[str]:
        return [*self.errors, *(f"dialog {d}" for d in self.dialogs), *(f"request to {u}" for u in self.elsewhere())]


@dataclass
class Console:
    """Opens watched pages of the console in fresh browser contexts (own cookies and storage)."""

    browser: Browser
    contexts: list[tuple[BrowserContext, Watch]] = field(default_factory=list)

    async def open(self, app: Harness, *, key: str | None = KEY, session: str | None = None,
                   viewport: Mapping[str, int] = DESKTOP, path: str = "/console/") -> Page:
        """A new page on `app`'s console at `path`; with `key`, given as a person does on the 401
        (then the task list is shown); with `session`, signed in to App Service authentication."""
        context = await self.browser.new_context(viewport=dict(viewport), locale="en-US", timezone_id="UTC",
                                                 service_workers="block")
        context.set_default_timeout(STATE_TIMEOUT_MS)
        watch = Watch(app.host.base_url)
        self.contexts.append((context, watch))
        context.on("request", watch.request)
        if session is not None:
            await context.add_cookies([{"name": APP_SERVICE_AUTH_COOKIE, "value": session, "url": app.host.base_url}])
        page = await context.new_page()
        page.on("dialog", watch.dialog)
        page.on("console", watch.console)
        page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
        await page.goto(app.host.base_url + path)
        if key is not None:
            await give_key(page, key)
        return page

    def watch_of(self, page: Page) -> Watch:
        return next(watch for context, watch in self.contexts if page.context is context)


async def give_key(page: Page, key: str = KEY) -> None:
    """Answer the console's 401 with the function key, and wait for the task list."""
    await page.get_by_label("Function key", exact=True).fill(key)
    await page.get_by_role("button", name="Use key").click()
    await expect(page.locator("#tasks")).to_have_attribute("data-state", "shown")


@pytest.fixture
async def console(start_console: StartConsole) -> AsyncIterator[Console]:
    """A fresh Chromium; every page it opened is checked at the end (see `Watch`)."""
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    expect.set_options(timeout=STATE_TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        opened = Console(browser)
        try:
            yield opened
            problems = [problem for _, watch in opened.contexts for problem in watch.problems()]
            assert problems == [], "the console did what it never may:\n" + "\n".join(problems)
        finally:
            for context, _ in opened.contexts:
                await context.close()
            await browser.close()


def task_id_in(page: Page) -> str:
    """The id of the task the page shows (its `#/tasks/<id>` address)."""
    fragment = urlsplit(page.url).fragment
    assert fragment.startswith("/tasks/"), page.url
    return fragment.removeprefix("/tasks/")


async def submit_form(page: Page, prompt: str, *, review: bool = False, model: str = "") -> None:
    """Fill the "New task" form (OpenAI provider) and press "Start task"."""
    await page.get_by_label("Prompt").fill(prompt)
    await page.get_by_label("Model").fill(model)
    await page.get_by_label("Provider").select_option(label="OpenAI or compatible")
    await page.get_by_label("Review the plan before the team runs").set_checked(review)
    await page.get_by_role("button", name="Start task").click()


async def start_from_form(page: Page, prompt: str, *, review: bool = False, model: str = "") -> str:
    """`submit_form`; the new task's id once the console shows it."""
    await submit_form(page, prompt, review=review, model=model)
    await expect(page.locator("#task h2")).to_be_visible()
    return task_id_in(page)


async def shown_status(page: Page, status: str) -> None:
    """Wait until the task on `page` shows `status`."""
    await expect(page.locator("#task")).to_have_attribute("data-status", status)
