"""The remote routes: a Chromium over CDP and a Playwright server (`run-server`), both started
here on 127.0.0.1, with the request guard as their only policy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from magentic_tasks.browser import BrowserPool, CdpRoute, WsRoute
from tests.browser.conftest import Site
from tests.support.web_site import TEST_ARGS, cdp_chromium


async def line_matching(stream: asyncio.StreamReader | None, pattern: str) -> re.Match[str]:
    assert stream is not None
    while line := (await stream.readline()).decode():
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"the process ended without printing {pattern!r}")


@pytest.fixture
async def cdp_url(chromium: str, tmp_path: Path) -> AsyncIterator[str]:
    """A headless Chromium started here with --remote-debugging-port=0; its DevTools URL."""
    async with cdp_chromium(chromium, tmp_path / "profile") as url:
        yield url


@pytest.fixture
async def ws_endpoint(chromium: str) -> AsyncIterator[str]:
    """playwright's own server (`python -m playwright run-server`); --unsafe lets a client choose
    the executable and arguments (Debian's Chromium here) through the launch-options header."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "playwright", "run-server", "--port", "0", "--host", "127.0.0.1", "--unsafe",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    found = await line_matching(process.stdout, r"Listening on (ws://\S+)")
    yield found.group(1)
    with contextlib.suppress(ProcessLookupError):  # python's wrapper and its node driver, together
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def browse(pool: BrowserPool, site: Site) -> tuple[str, str, str]:
    async with pool.task_context() as context:
        page = await context.new_page()
        await page.goto(site.url("/set-cookie?value=remote"))
        await page.goto(site.url("/show-cookie"))
        allowed = await page.inner_text("body")
        await page.goto("http://10.0.0.1/")
        private = await page.inner_text("body")
        await page.goto("http://169.254.169.254/metadata")
        metadata = await page.inner_text("body")
    return allowed, private, metadata


async def test_a_chromium_over_cdp(make_pool: Callable[..., BrowserPool], site: Site, cdp_url: str) -> None:
    pool = make_pool(allowed=("127.0.0.1",), route=CdpRoute(cdp_url))
    allowed, private, metadata = await browse(pool, site)
    assert allowed == "cookie: [task=remote]"
    assert "10.0.0.1 is a private network address" in private
    assert "169.254.169.254 is a link-local network address" in metadata
    assert pool.proxy is None  # remote: the route guard is the policy
    async with pool.task_context() as context:  # the next task: a new context, no cookie
        assert await context.cookies() == []
    assert pool.starts == 1
    await pool.close()  # before the browser goes


async def test_a_playwright_server_with_headers(
    make_pool: Callable[..., BrowserPool], site: Site, ws_endpoint: str, chromium: str
) -> None:
    launch = {"executablePath": chromium, "args": TEST_ARGS}
    headers = {"x-playwright-launch-options": json.dumps(launch)}  # as BROWSER_WS_HEADERS would carry a token
    pool = make_pool(allowed=("127.0.0.1",), route=WsRoute(ws_endpoint, headers))
    allowed, private, metadata = await browse(pool, site)
    assert allowed == "cookie: [task=remote]"
    assert "10.0.0.1 is a private network address" in private
    assert "169.254.169.254 is a link-local network address" in metadata
    browser = await pool.browser()
    assert browser.version.split(".")[0] == chromium_major(chromium)  # the server launched what we sent
    await pool.close()  # before the server goes


def chromium_major(chromium: str) -> str:
    output = subprocess.run([chromium, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+)\.\d+\.\d+\.\d+", output)
    assert found is not None
    return found.group(1)
