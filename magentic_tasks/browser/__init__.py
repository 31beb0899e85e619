"""The WebSurfer's browser: one per worker process, a fresh context per task, and a navigation
policy that keeps the browser out of the networks the app sits in.

- `_hosts`: which hosts and addresses are refused (`HostRules`, `NavigationPolicy`), pure checks;
- `_proxy`: the filtering forward proxy a launched browser goes through (resolve once, check
  every address, connect to a checked one: no DNS rebinding, redirects and subresources included);
- `_guard`: the same policy on each context's requests (`context.route`), with the refused page;
- `_downloads`: the download cap (`WEB_DOWNLOAD_MAX_BYTES`) and saving into the task's folder;
- `_routes`: launch, CDP, or a Playwright server (`BrowserRoute`);
- `_pool`: `BrowserPool.task_context()`;
- `_decision`: `web_surfer_decision(settings)`, whether the WebSurfer runs and why;
- `_surfer`: `build_web_surfer(...)`, autogen's MultimodalWebSurfer on a pooled context.

Names are imported on first use: the pure modules load without playwright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._decision import WebSurferDecision, web_surfer_decision
    from ._downloads import DownloadLimit, DownloadRefused, GuardedDownload
    from ._guard import RequestGuard
    from ._hosts import (
        HostRules,
        NavigationPolicy,
        NavigationRefused,
        Resolver,
        address_problem,
        refused_page,
        system_resolver,
    )
    from ._pool import BrowserGone, BrowserPool, pool_from_settings, shared_pool
    from ._proxy import FilteringProxy
    from ._routes import BrowserRoute, CdpRoute, LaunchRoute, WsRoute, playwright_chromium, route_from_settings
    from ._surfer import PooledWebSurfer, build_web_surfer

_MODULES: dict[str, tuple[str, ...]] = {
    "_decision": ("WebSurferDecision", "web_surfer_decision"),
    "_downloads": ("DownloadLimit", "DownloadRefused", "GuardedDownload"),
    "_guard": ("RequestGuard",),
    "_hosts": (
        "HostRules", "NavigationPolicy", "NavigationRefused", "Resolver", "address_problem",
        "refused_page", "system_resolver",
    ),
    "_pool": ("BrowserGone", "BrowserPool", "pool_from_settings", "shared_pool"),
    "_proxy": ("FilteringProxy",),
    "_routes": ("BrowserRoute", "CdpRoute", "LaunchRoute", "WsRoute", "playwright_chromium", "route_from_settings"),
    "_surfer": ("PooledWebSurfer", "build_web_surfer"),
}
__getattr__ = lazy_names(__name__, _MODULES)

__all__ = [
    "BrowserGone",
    "BrowserPool",
    "BrowserRoute",
    "CdpRoute",
    "DownloadLimit",
    "DownloadRefused",
    "FilteringProxy",
    "GuardedDownload",
    "HostRules",
    "LaunchRoute",
    "NavigationPolicy",
    "NavigationRefused",
    "PooledWebSurfer",
    "RequestGuard",
    "Resolver",
    "WebSurferDecision",
    "WsRoute",
    "address_problem",
    "build_web_surfer",
    "playwright_chromium",
    "pool_from_settings",
    "refused_page",
    "route_from_settings",
    "shared_pool",
    "system_resolver",
    "web_surfer_decision",
]
