"""One browser per worker process, shared by its tasks; a fresh context for each task.

The browser starts with the first task that asks for one (`task_context`) and stays up for the
next. Each task gets its own `BrowserContext` (cookies, storage, cache and permissions never cross
tasks), with the navigation policy on its requests and the download cap, and the context is closed
whenever the task's block ends: normally, by an exception or by cancellation. A browser that
disconnected (it crashed, was killed, or the remote end went away) is replaced by the next task
that asks; the task that was using it gets `BrowserGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from playwright.async_api import Browser, BrowserContext, Error, Playwright, async_playwright

from ._downloads import DownloadLimit
from ._guard import RequestGuard
from ._hosts import HostRules, NavigationPolicy
from ._proxy import FilteringProxy
from ._routes import BrowserRoute

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)

# autogen's WebSurfer launches its own browser with this user agent; a task context keeps it.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0"
)


class BrowserGone(RuntimeError):
    """The browser went away while a task used it; the next task gets a new one."""


class BrowserPool:
    """The process's browser and its task contexts. Use it from one event loop; `close()` at the end."""

    def __init__(
        self,
        route: BrowserRoute,
        policy: NavigationPolicy | None = None,
        *,
        download_max_bytes: int = 25 * 1024 * 1024,
        close_timeout: float = 10.0,
    ) -> None:
        self.route = route
        self.policy = policy or NavigationPolicy()
        self.download_max_bytes = download_max_bytes
        self._close_timeout = close_timeout
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._proxy: FilteringProxy | None = None
        self._limits: weakref.WeakKeyDictionary[BrowserContext, DownloadLimit] = weakref.WeakKeyDictionary()
        self.starts = 0  # browsers launched or connected so far

    @property
    def playwright(self) -> Playwright:
        """The running Playwright (for the WebSurfer, which must be handed one); after a task_context."""
        if self._playwright is None:
            raise RuntimeError("the pool has not started its browser yet")
        return self._playwright

    @property
    def proxy(self) -> FilteringProxy | None:
        """The filtering proxy in front of a launched browser (None for remote browsers)."""
        return self._proxy

    async def browser(self) -> Browser:
        """The shared browser: started on first use, and again when the last one disconnected."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                logger.warning("the browser disconnected; starting %s again", self.route.describe())
                self._browser = None
            try:
                browser = await self._open()
            except Error:
                # The driver itself may be gone with the browser: start a new one, once.
                await self._stop_playwright()
                browser = await self._open()
            self._browser = browser
            self.starts += 1
            return browser

    async def _open(self) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        proxy_server = None
        if self.route.proxied:
            if self._proxy is None:
                self._proxy = FilteringProxy(self.policy)
            proxy_server = await self._proxy.start()
        return await self.route.open(self._playwright, proxy_server)

    @contextlib.asynccontextmanager
    async def task_context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A fresh context for one task, closed when the block ends. `options` go to
        `Browser.new_context` (viewport, locale...); downloads are on when the cap is above 0."""
        browser = await self.browser()
        settings: dict[str, Any] = {
            "user_agent": USER_AGENT,
            "accept_downloads": self.download_max_bytes > 0,
            "service_workers": "block",
            **options,
        }
        context = await browser.new_context(**settings)
        try:
            await RequestGuard(self.policy).attach(context)
            limit = DownloadLimit(self.download_max_bytes)
            limit.watch(context)
            self._limits[context] = limit
            yield context
        except Exception as error:
            if not browser.is_connected():
                raise BrowserGone(f"the browser ({self.route.describe()}) went away during this task") from error
            raise
        finally:
            await self._close_context(context)

    def download_limit(self, context: BrowserContext) -> DownloadLimit:
        """The download cap of a context from `task_context`."""
        return self._limits[context]

    async def _close_context(self, context: BrowserContext) -> None:
        async def close() -> None:
            with contextlib.suppress(Error, TimeoutError):
                async with asyncio.timeout(self._close_timeout):
                    await context.close()

        # Shielded: a second cancellation while closing leaves the close running to its end.
        await asyncio.shield(asyncio.ensure_future(close()))

    async def close(self) -> None:
        """Close the browser (disconnect from a remote one), the driver and the proxy."""
        async with self._lock:
            if self._browser is not None:
                with contextlib.suppress(Error):
                    await self._browser.close()
                self._browser = None
            await self._stop_playwright()
            if self._proxy is not None:
                await self._proxy.close()
                self._proxy = None

    async def _stop_playwright(self) -> None:
        if self._playwright is not None:
            with contextlib.suppress(Error, OSError):
                await self._playwright.stop()
            self._playwright = None


_shared: tuple[asyncio.AbstractEventLoop, BrowserPool] | None = None


def shared_pool(route: BrowserRoute, policy: NavigationPolicy, *, download_max_bytes: int) -> BrowserPool:
    """The worker process's pool, made by the first caller on this event loop (a pool's browser
    belongs to the loop that started it)."""
    global _shared
    loop = asyncio.get_running_loop()
    if _shared is None or _shared[0] is not loop:
        _shared = (loop, BrowserPool(route, policy, download_max_bytes=download_max_bytes))
    return _shared[1]


def pool_from_settings(settings: Settings, route: BrowserRoute) -> BrowserPool:
    """The shared pool for these settings (`WEB_*`) and route."""
    rules = HostRules(allowed=settings.web_allowed_hosts, blocked=settings.web_blocked_hosts)
    return shared_pool(route, NavigationPolicy(rules), download_max_bytes=settings.web_download_max_bytes)

