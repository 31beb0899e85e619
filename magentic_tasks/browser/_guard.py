"""The navigation policy as the browser context's own request route (`context.route`).

Every request the context makes that Playwright routes (pages, frames, subresources, the first
request of a download) is checked before it leaves: a scheme other than http and https (`file:`,
`ftp:`, ...) and a refused host are stopped; a navigation gets the refused page, so the agent
reads why, and a subresource is aborted. Service workers are blocked in every task context, so
none of their requests escapes the route.

What a route cannot see: the hops of a redirect (Playwright routes only a redirect chain's first
request) and the address the browser itself connects to (it resolves the name again). For a
launched browser the filtering proxy (`_proxy`) covers both; for a remote browser (CDP, Playwright
server) this route is the only guard, so run such a browser in a network without private reach.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Error, Route

from ._hosts import NavigationPolicy, NavigationRefused, refused_page

logger = logging.getLogger(__name__)

# Schemes that never reach the network (the page's own data); everything else but http(s) is refused.
_LOCAL_SCHEMES = {"about", "data", "blob"}


class RequestGuard:
    """The route handler of one context, with a short cache of checked hosts (a page's many
    subresources on one host cost one resolution; the proxy never uses this cache)."""

    def __init__(self, policy: NavigationPolicy, *, cache_seconds: float = 30.0) -> None:
        self.policy = policy
        self._cache_seconds = cache_seconds
        self._checked: dict[tuple[str, int], tuple[float, str | None]] = {}
        self.refused: deque[str] = deque(maxlen=100)  # the latest refused URLs, for tests and logs

    async def attach(self, context: BrowserContext) -> None:
        await context.route("**/*", self.handle)

    async def problem(self, url: str) -> str | None:
        """Why the browser may not request `url`, or None."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in _LOCAL_SCHEMES:
            return None
        if scheme not in ("http", "https"):
            return f"{scheme}: addresses are not opened by this browser, only http and https"
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            return "the address has an invalid port"
        key = (host, port)
        now = time.monotonic()
        cached = self._checked.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            await self.policy.checked_addresses(host, port)
            found: str | None = None
        except NavigationRefused as refused:
            found = str(refused)
        if len(self._checked) > 512:
            self._checked.clear()
        self._checked[key] = (now + self._cache_seconds, found)
        return found

    async def handle(self, route: Route) -> None:
        request = route.request
        problem = await self.problem(request.url)
        with contextlib.suppress(Error):  # the page or context may have closed meanwhile
            if problem is None:
                await route.fallback()
                return
            self.refused.append(request.url)
            logger.info("browser request refused: %s", problem)
            if request.is_navigation_request():
                await route.fulfill(status=403, content_type="text/html; charset=utf-8", body=refused_page(problem))
            else:
                await route.abort("blockedbyclient")
