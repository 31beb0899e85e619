"""The pool: one browser for many tasks, a context per task that is always closed, and a new
browser after the old one died."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest
from playwright.async_api import BrowserContext, Error

from magentic_tasks.browser import BrowserGone, BrowserPool, LaunchRoute
from tests.browser.conftest import Site, chromium_pids


async def test_two_tasks_at_once_share_the_browser_but_no_cookies(
    make_pool: Callable[..., BrowserPool], site: Site
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    both_set = asyncio.Event()
    arrived: list[str] = []

    async def task(value: str) -> str:
        async with pool.task_context() as context:
            page = await context.new_page()
            await page.goto(site.url(f"/set-cookie?value={value}"))
            arrived.append(value)
            if len(arrived) == 2:
                both_set.set()
            await both_set.wait()  # both contexts are open and hold a cookie now
            await page.goto(site.url("/show-cookie"))
            return await page.inner_text("body")

    first, second = await asyncio.gather(task("one"), task("two"))
    assert (first, second) == ("cookie: [task=one]", "cookie: [task=two]")
    assert pool.starts == 1
    async with pool.task_context() as context:  # a later task starts with no cookie at all
        page = await context.new_page()
        await page.goto(site.url("/show-cookie"))
        assert await page.inner_text("body") == "cookie: []"
        assert await context.cookies() == []


async def test_the_context_is_closed_after_an_exception(make_pool: Callable[..., BrowserPool], site: Site) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    seen: list[BrowserContext] = []
    with pytest.raises(ValueError, match="the task failed"):
        async with pool.task_context() as context:
            seen.append(context)
            await (await context.new_page()).goto(site.url("/"))
            raise ValueError("the task failed")
    browser = await pool.browser()
    assert seen[0] not in browser.contexts and browser.contexts == []
    with pytest.raises(Error):
        await seen[0].new_page()


async def test_the_context_is_closed_after_cancellation(make_pool: Callable[..., BrowserPool], site: Site) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    opened = asyncio.Event()
    seen: list[BrowserContext] = []

    async def task() -> None:
        async with pool.task_context() as context:
            seen.append(context)
            await (await context.new_page()).goto(site.url("/"))
            opened.set()
            await asyncio.Event().wait()  # until cancelled

    running = asyncio.create_task(task())
    await opened.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    browser = await pool.browser()
    assert browser.contexts == []
    with pytest.raises(Error):
        await seen[0].new_page()


async def test_a_killed_browser_fails_its_task_clearly_and_is_relaunched_for_the_next(
    make_pool: Callable[..., BrowserPool], site: Site
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    assert isinstance(pool.route, LaunchRoute)
    marker = pool.route.args[0]
    with pytest.raises(BrowserGone, match="went away during this task"):
        async with pool.task_context() as context:
            page = await context.new_page()
            await page.goto(site.url("/before"))
            disconnected = asyncio.Event()
            context.browser.on("disconnected", lambda _: disconnected.set())  # type: ignore[union-attr]
            for pid in chromium_pids(marker):
                os.kill(pid, signal.SIGKILL)
            await disconnected.wait()
            await page.goto(site.url("/after"))
    async with pool.task_context() as context:
        page = await context.new_page()
        await page.goto(site.url("/again"))
        assert await page.inner_text("body") == "Hello from /again"
    assert pool.starts == 2
