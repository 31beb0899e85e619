"""Whether the WebSurfer runs on this server, and why: for the status and the logs."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._routes import BrowserRoute, route_from_settings

if TYPE_CHECKING:
    from ..settings import Settings

_HOW = "set BROWSER_EXECUTABLE_PATH, BROWSER_CDP_URL or BROWSER_WS_ENDPOINT, or run `playwright install chromium`"


@dataclass(frozen=True)
class WebSurferDecision:
    """`enabled` with the browser `route` it would use, and the `reason` in words."""

    enabled: bool
    reason: str
    route: BrowserRoute | None = None


def web_surfer_decision(settings: Settings) -> WebSurferDecision:
    """ENABLE_WEB_SURFER: `false` is off; `auto` (the default) and `true` are on when a browser is
    configured or playwright has its own, and off otherwise (for `true`, with the reason to warn)."""
    mode = {None: "auto", True: "true", False: "false"}[settings.enable_web_surfer]
    if settings.enable_web_surfer is False:
        return WebSurferDecision(False, "ENABLE_WEB_SURFER=false")
    if importlib.util.find_spec("playwright") is None:
        return WebSurferDecision(False, f"ENABLE_WEB_SURFER={mode}, but playwright is not installed")
    route = route_from_settings(settings)
    if route is None:
        return WebSurferDecision(False, f"ENABLE_WEB_SURFER={mode}, but no browser is configured: {_HOW}")
    path = settings.browser_executable_path
    if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
        problem = f"BROWSER_EXECUTABLE_PATH {path} is not an executable"
        return WebSurferDecision(False, f"ENABLE_WEB_SURFER={mode}, but {problem}")
    return WebSurferDecision(True, f"ENABLE_WEB_SURFER={mode}: browsing with {route.describe()}", route)
