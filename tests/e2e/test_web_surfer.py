"""The whole Magentic-One team with the real WebSurfer, through the registered functions: Debian's
Chromium (launched, or reached over CDP), pages served on 127.0.0.1, and the scripted model
answering the WebSurfer's own tool calls. Skipped, with the reason, where Chromium is missing.

autogen's WebSurfer waits 3 s after every action for the page to settle; these pages are static
and loaded by then (it waits for the load state first), so the tests wait for the load state only
(`quick_settle`). tests/worker runs a WebSurfer task with the 3 s.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from autogen_ext.agents.web_surfer.playwright_controller import PlaywrightController
from PIL import Image
from playwright.async_api import Page

from magentic_tasks.browser import BrowserPool, NavigationPolicy
from magentic_tasks.browser import _pool as pool_module
from magentic_tasks.run import IMAGE_REF_TYPE, IMAGE_TYPE
from magentic_tasks.run import _team as team_module
from magentic_tasks.settings import CANCEL_GRACE_SECONDS
from tests.browser.conftest import MapResolver
from tests.e2e.conftest import Harness, StartApp, as_json
from tests.support.model_server import Script, WebStep, click, scroll_down, type_into, visit
from tests.support.web_site import (
    Site,
    cdp_chromium,
    descendants,
    is_chromium,
    serve_site,
)

WEB = "WebSurfer"
TEXT_MODEL_INFO = {"vision": False, "function_calling": True, "json_output": True, "family": "unknown",
                   "structured_output": True}


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as found:
        yield found


@pytest.fixture(autouse=True)
def quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The WebSurfer's settle time after an action: the page's load state instead of 3 s."""

    async def settle(self: PlaywrightController, page: Page, duration: float) -> None:
        await page.wait_for_load_state()

    monkeypatch.setattr(PlaywrightController, "sleep", settle)


@pytest.fixture
async def browser_pool() -> AsyncIterator[Callable[[], BrowserPool]]:
    """The process's browser pool as the run activity made it on this event loop; closed after the
    test, with its browser."""

    def current() -> BrowserPool:
        shared = pool_module._shared
        assert shared is not None and shared[0] is asyncio.get_running_loop(), "no task made a browser pool"
        return shared[1]

    yield current
    await close_shared_pool()


async def close_shared_pool() -> None:
    shared = pool_module._shared
    if shared is not None and shared[0] is asyncio.get_running_loop():
        await shared[1].close()
        pool_module._shared = None


def web_script(*steps: WebStep, rounds: int | None = None) -> Script:
    """The ledger gives each task's WebSurfer one turn per step (or `rounds`), then says the
    request is satisfied."""
    return Script(rounds_before_satisfied=len(steps) if rounds is None else rounds, next_speaker=WEB,
                  instruction="Open the page and read it.", web_surfer=steps, per_task=True)


async def start_web(start_app: StartApp, site: Site, browser: dict[str, object], script: Script,
                    **env: object) -> Harness:
    settings: dict[str, object] = {"ENABLE_WEB_SURFER": "auto", "WEB_ALLOWED_HOSTS": "127.0.0.1",
                                   "WEB_START_PAGE": site.url("/start"), **browser}
    app = await start_app(script, **(settings | env))
    app.finish_timeout = 60.0  # the first task starts the browser
    return app


def images(messages: list[dict[str, Any]]) -> list[bytes]:
    return [base64.b64decode(m["content"], validate=True) for m in messages if m["type"] == IMAGE_TYPE]


def web_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["source"] == WEB and m["type"] != IMAGE_TYPE]


def sent_images(body: dict[str, Any]) -> int:
    """Image parts in a chat-completions request."""
    return sum(1 for m in body.get("messages", []) if isinstance(m.get("content"), list)
               for part in m["content"] if part.get("type") == "image_url")


def assert_no_context_left(pool: BrowserPool) -> None:
    browser = pool._browser
    assert browser is not None and browser.is_connected() and browser.contexts == []


async def test_a_web_surfer_task_browses_a_local_page_for_real(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
) -> None:
    script = web_script(visit(site.url("/article")), scroll_down(), type_into("Search the site", "pelican"),
                        click("Next"))
    # A model autogen does not know, described by MODEL_INFO as one with vision.
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script,
                          MODEL_INFO=json.dumps(TEXT_MODEL_INFO | {"vision": True, "family": "gpt-4o"}))
    created = await app.post_task(prompt="What do pelicans do over the bay?", model_name="my-vision-model")
    task_id = str(as_json(created)["task_id"])

    result = await app.run_to_end(task_id)

    assert result["status"] == "completed", result["error"]
    assert [p for p in site.paths() if p != "/favicon.ico"] == ["/start", "/article", "/search", "/next"]
    messages = app.final_messages(task_id)
    assert messages == result["result"]["messages"]  # the result is SQLite's: the screenshots' bytes
    visited, scrolled, searched, clicked = web_texts(messages)
    assert "Paragraph 0: pelicans glide over the bay" in visited and "Pelicans" in visited
    assert "I scrolled down one page" in scrolled and "down from the top of the page" in scrolled
    assert "I typed 'pelican' into 'Search the site'" in searched and "Results for pelican: none." in searched
    assert "I clicked 'Next'" in clicked and "Hello from /next" in clicked
    screenshots = images(messages)
    assert len(screenshots) == 4
    for png in screenshots:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert Image.open(io.BytesIO(png)).size == (1440, 900)  # the WebSurfer's viewport
    # Durable state keeps a reference to each screenshot, never its bytes.
    refs = [json.loads(m["content"]) for m in app.durable_outcome(task_id)["messages"] if m["type"] == IMAGE_REF_TYPE]
    assert refs == [{"sha256": hashlib.sha256(png).hexdigest(), "bytes": len(png)} for png in screenshots]
    assert not any(m["type"] == IMAGE_TYPE for m in app.durable_outcome(task_id)["messages"])
    # Every token is the model's: the WebSurfer's four calls, each with its screenshot (the model sees images).
    served = app.server.served_for({"web_surfer"})
    assert result["result"]["usage_by_agent"][WEB] == {"prompt_tokens": served.prompt_tokens,
                                                       "completion_tokens": served.completion_tokens}
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
    web_calls = [r for r in app.server.answered if r.kind == "web_surfer"]
    assert len(web_calls) == 4 and all(sent_images(r.body) == 1 for r in web_calls)
    pool = browser_pool()
    assert_no_context_left(pool)  # the task's context closed with its run; the browser stays
    assert pool.starts == 1


async def test_a_chromium_over_cdp_serves_the_task_behind_the_request_guard(
    start_app: StartApp, chromium: str, site: Site, tmp_path: Path,
) -> None:
    async with cdp_chromium(chromium, tmp_path / "profile") as cdp_url:
        script = web_script(visit(site.url("/page?body=" + quote("<p>Served over CDP.</p>"))),
                            visit("http://10.0.0.1/admin"))
        app = await start_web(start_app, site, {"BROWSER_CDP_URL": cdp_url}, script)
        try:
            result = await app.run_to_end(await app.create_task())
            pool = pool_module._shared[1] if pool_module._shared is not None else None
            assert pool is not None and pool.proxy is None  # remote: the request guard is the policy
            browser = pool._browser
            assert browser is not None and len(browser.contexts) == 1  # the browser's own; the task's is closed
        finally:
            await close_shared_pool()  # before the browser goes

    assert result["status"] == "completed", result["error"]
    read, refused = web_texts(result["result"]["messages"])
    assert "Served over CDP." in read
    assert "This address is not allowed" in refused and "10.0.0.1 is a private network address" in refused
    assert len(images(result["result"]["messages"])) == 2
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total


async def test_refused_addresses_reach_the_agent_as_the_refused_page_and_the_task_completes(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # Test names instead of DNS: site.test and ads.test are this site (127.0.0.1).
    names = MapResolver({"site.test": [["127.0.0.1"]], "ads.test": [["127.0.0.1"]]})
    monkeypatch.setattr(pool_module, "NavigationPolicy", functools.partial(NavigationPolicy, resolver=names))
    allowed = f"site.test:{site.port}"
    loopback = f"127.0.0.1:{site.port}"
    pixels = "&".join(f"src={quote(f'http://{host}/pixel.png')}" for host in (f"ads.test:{site.port}", loopback))
    script = web_script(
        visit("http://10.0.0.1/admin"),
        visit("http://169.254.169.254/metadata/instance"),
        visit(f"http://{allowed}/redirect?to={quote(f'http://{loopback}/secret')}"),
        visit(f"http://{allowed}/images?{pixels}"),
        visit(f"http://{allowed}/page?body={quote('<p>An allowed page.</p>')}"),
    )
    caplog.set_level(logging.INFO, logger="magentic_tasks.browser")
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script,
                          WEB_ALLOWED_HOSTS="site.test", WEB_BLOCKED_HOSTS="ads.test",
                          WEB_START_PAGE=f"http://{allowed}/start")

    result = await app.run_to_end(await app.create_task())

    assert result["status"] == "completed", result["error"]
    private, metadata, redirected, with_images, allowed_page = web_texts(result["result"]["messages"])
    assert "10.0.0.1 is a private network address" in private
    assert "169.254.169.254 is a link-local network address" in metadata
    assert "127.0.0.1 is a loopback network address" in redirected  # the redirect hop, refused by the proxy
    assert "A page with images." in with_images
    assert "An allowed page." in allowed_page
    assert all("This address is not allowed" in text for text in (private, metadata, redirected))
    assert [p for p in site.paths() if p != "/favicon.ico"] == ["/start", "/redirect", "/images", "/page"]
    refusals = [r.getMessage() for r in caplog.records if "browser request refused" in r.getMessage()]
    assert any("ads.test is on this server's list of blocked hosts" in text for text in refusals)  # the image
    assert result["result"]["task_result"]["final_answer"] == script.final_answer
    assert_no_context_left(browser_pool())


async def test_two_tasks_at_once_share_the_browser_but_not_their_cookies(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
) -> None:
    # The site names each visitor; each task sets its cookie, then reads what its context sends back.
    script = web_script(visit(site.url("/set-cookie")), visit(site.url("/show-cookie")))
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script)
    site.hold("/set-cookie")
    site.hold("/show-cookie")
    first = await app.create_task(prompt="Task one: set and show a cookie.")
    second = await app.create_task(prompt="Task two: set and show a cookie.")

    await app.host.wait_until(lambda: site.arrived("/set-cookie") == 2, 60, "both tasks setting their cookie")
    browser = browser_pool()._browser
    assert browser is not None and len(browser.contexts) == 2  # one browser, a context per task
    site.release("/set-cookie")
    await app.host.wait_until(lambda: site.arrived("/show-cookie") == 2, 60, "both tasks showing their cookie")
    site.release("/show-cookie")  # both cookies were set before either task reads its own
    results = [await app.run_to_end(task_id) for task_id in (first, second)]

    shown = []
    for result in results:
        assert result["status"] == "completed", result["error"]
        set_text, show_text = web_texts(result["result"]["messages"])
        visitor = set_text.split("set visitor-")[1].split()[0]
        assert f"cookie: [task=visitor-{visitor}]" in show_text
        shown.append(visitor)
    assert sorted(shown) == ["1", "2"]
    assert_no_context_left(browser_pool())
    assert browser_pool().starts == 1


async def test_a_cancel_a_deadline_and_a_token_budget_each_close_the_tasks_context(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
) -> None:
    # The page never loads: the cancelled task is stopped while its WebSurfer waits for it; the
    # deadline and the budget stop the other two wherever they are by then.
    script = web_script(visit(site.url("/slow")))
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script, CANCEL_POLL_SECONDS=0.2)
    site.hold("/slow")

    cancelled = await app.create_task(prompt="A task to cancel.")
    await app.host.wait_until(lambda: site.arrived("/slow") == 1, 60, "the WebSurfer loading the page")
    assert len(browser_pool()._browser.contexts) == 1  # type: ignore[union-attr]
    asked = time.monotonic()
    response = await app.host.call_http("cancel_task", route_params={"task_id": cancelled})
    assert response.status_code == 202
    await app.host.wait_idle(30)
    # The turn ended with the cancel: the run did not wait out its grace for a page that never loads.
    assert time.monotonic() - asked < CANCEL_GRACE_SECONDS
    result = as_json(await app.get_result(cancelled))
    assert result["status"] == "cancelled"
    assert_no_context_left(browser_pool())

    body = {"prompt": "A task with a deadline.", "use_aoai": False, "model_name": "gpt-4o", "deadline_seconds": 3}
    timed_out = str(as_json(await app.post_task(body))["task_id"])
    result = await app.run_to_end(timed_out)
    assert result["result"]["task_result"]["stop_reason"] == "timeout"
    assert_no_context_left(browser_pool())

    # The budget runs out within the first round (a WebSurfer call alone, with its screenshot, is more).
    body = {"prompt": "A task with a budget.", "use_aoai": False, "model_name": "gpt-4o", "max_tokens": 1000}
    served_before = app.server.served.total
    budgeted = str(as_json(await app.post_task(body))["task_id"])
    result = await app.run_to_end(budgeted)
    assert result["result"]["task_result"]["stop_reason"] == "token budget exhausted"
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total - served_before
    assert_no_context_left(browser_pool())
    assert browser_pool().starts == 1


async def test_a_browser_killed_mid_task_fails_that_turn_and_the_next_task_gets_a_new_one(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
) -> None:
    script = web_script(visit(site.url("/slow")))
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script)
    site.hold("/slow")
    killed = await app.create_task(prompt="The task whose browser dies.")
    await app.host.wait_until(lambda: site.arrived("/slow") == 1, 60, "the WebSurfer loading the page")

    browsers = [pid for pid in descendants(os.getpid()) if is_chromium(pid)]
    assert browsers
    for pid in browsers:
        os.kill(pid, signal.SIGKILL)
    result = await app.run_to_end(killed)
    site.release("/slow")

    assert result["status"] == "completed", result["error"]  # the orchestrator goes on without the page
    (turn,) = web_texts(result["result"]["messages"])
    assert "BrowserGone: the browser went away during this task" in turn
    after = await app.run_to_end(await app.create_task(prompt="The next task."))
    assert after["status"] == "completed"
    assert "Hello from /slow" in web_texts(after["result"]["messages"])[0]
    assert browser_pool().starts == 2  # a new browser for the next task
    assert_no_context_left(browser_pool())


async def test_a_task_without_web_among_its_agents_builds_no_web_surfer(start_app: StartApp, site: Site) -> None:
    # No browser is started: an "executable" that is not one would fail the team if it were.
    not_a_browser = shutil.which("true")
    assert not_a_browser is not None
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": not_a_browser}, Script())
    body = {"prompt": "What is 6 * 7?", "use_aoai": False, "model_name": "gpt-4o", "agents": ["code"]}
    result = await app.run_to_end(str(as_json(await app.post_task(body))["task_id"]))

    assert result["status"] == "completed", result["error"]
    assert not any(WEB in json.dumps(r.body) for r in app.server.requests)  # the team the orchestrator knows
    assert site.requests == []
    shared = pool_module._shared
    assert shared is None or shared[0] is not asyncio.get_running_loop()  # no pool, no browser


async def test_without_vision_the_web_surfer_reads_text_and_says_so_once(
    start_app: StartApp, chromium: str, site: Site, browser_pool: Callable[[], BrowserPool],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(team_module, "_said", set())  # what this process has said so far
    # Without its chat history (not a GPT-4o-family model) the WebSurfer's calls are counted over both tasks.
    script = web_script(visit(site.url("/article")), visit(site.url("/article")), rounds=1)
    app = await start_web(start_app, site, {"BROWSER_EXECUTABLE_PATH": chromium}, script,
                          MODEL_INFO=json.dumps(TEXT_MODEL_INFO))
    caplog.set_level(logging.INFO, logger="magentic_tasks.run")

    results = [await app.run_to_end(str(as_json(await app.post_task(prompt=f"Read it, {n}.",
                                                                    model_name="my-text-model"))["task_id"]))
               for n in (1, 2)]

    for result in results:
        assert result["status"] == "completed", result["error"]
        (read,) = web_texts(result["result"]["messages"])
        assert "Paragraph 0: pelicans glide over the bay" in read
        assert len(images(result["result"]["messages"])) == 1  # the transcript keeps the screenshot
    assert all(sent_images(r.body) == 0 for r in app.server.requests)  # the model never got one
    assert {r.body["model"] for r in app.server.requests} == {"my-text-model"}
    said = [r for r in caplog.records if "the WebSurfer reads pages as text" in r.getMessage()]
    assert len(said) == 1
    assert sum(r.usage.total for r in app.server.answered if r.usage) == sum(
        res["prompt_tokens"] + res["completion_tokens"] for res in results)
