"""The three ways to a browser, behind one small interface (`BrowserRoute.open`).

- `LaunchRoute`: a Chromium started here (`BROWSER_EXECUTABLE_PATH`, e.g. Debian's
  `/usr/bin/chromium`, or the one `playwright install chromium` put in place), behind the
  filtering proxy;
- `CdpRoute`: a running Chromium reached over the DevTools protocol (`BROWSER_CDP_URL`);
- `WsRoute`: a Playwright server (`BROWSER_WS_ENDPOINT` with `BROWSER_WS_HEADERS`), such as
  Azure Playwright Workspaces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from ..settings import Settings

RouteKind = Literal["launch", "cdp", "ws"]

# Flags for a Chromium that serves tasks: no background traffic of its own, no UDP that would
# pass the proxy by (QUIC, WebRTC). Playwright adds --no-sandbox unless chromium_sandbox is set.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


class BrowserRoute(Protocol):
    """How the pool gets its browser. `proxied` routes take the filtering proxy's URL."""

    @property
    def kind(self) -> RouteKind: ...

    @property
    def proxied(self) -> bool: ...

    def describe(self) -> str:
        """For logs and the status: no secret in it."""
        ...

    async def open(self, playwright: Playwright, proxy_server: str | None) -> Browser: ...


@dataclass(frozen=True)
class LaunchRoute:
    executable_path: Path | None = None  # None: playwright's own Chromium
    args: tuple[str, ...] = ()
    kind: RouteKind = field(default="launch", init=False)
    proxied: bool = field(default=True, init=False)

    def describe(self) -> str:
        return f"a local Chromium ({self.executable_path or 'installed by playwright'})"

    async def open(self, playwright: Playwright, proxy_server: str | None) -> Browser:
        return await playwright.chromium.launch(
            executable_path=self.executable_path,
            headless=True,
            args=[*CHROMIUM_ARGS, *self.args],
            # Playwright adds --proxy-bypass-list=<-loopback>: loopback goes through the proxy too.
            proxy={"server": proxy_server} if proxy_server else None,
        )


@dataclass(frozen=True)
class CdpRoute:
    url: str
    kind: RouteKind = field(default="cdp", init=False)
    proxied: bool = field(default=False, init=False)

    def describe(self) -> str:
        return f"a Chromium over CDP at {_origin(self.url)}"

    async def open(self, playwright: Playwright, proxy_server: str | None) -> Browser:
        return await playwright.chromium.connect_over_cdp(self.url)


@dataclass(frozen=True)
class WsRoute:
    endpoint: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # secret: a token, usually
    kind: RouteKind = field(default="ws", init=False)
    proxied: bool = field(default=False, init=False)

    def describe(self) -> str:
        return f"a Playwright server at {_origin(self.endpoint)}"

    async def open(self, playwright: Playwright, proxy_server: str | None) -> Browser:
        return await playwright.chromium.connect(self.endpoint, headers=self.headers or None)


def _origin(url: str) -> str:
    """Scheme, host and port only: a path or query may carry an access token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def playwright_chromium() -> Path | None:
    """The Chromium `playwright install chromium` put in place for the installed playwright, if
    any (found without starting playwright's driver: its browsers.json and the browsers folder)."""
    try:
        import playwright
    except ImportError:
        return None
    package = Path(playwright.__file__).parent
    try:
        browsers = json.loads((package / "driver" / "package" / "browsers.json").read_text())["browsers"]
    except (OSError, ValueError, KeyError):
        return None
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if configured == "0":
        root = package / "driver" / "package" / ".local-browsers"
    elif configured:
        root = Path(configured)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ms-playwright"
    for browser in browsers:
        folder = browser.get("name", "").replace("-", "_")
        if folder.startswith("chromium"):
            for candidate in sorted(root.glob(f"{folder}-{browser.get('revision')}/*/*")):
                if candidate.name in ("chrome", "headless_shell", "chrome-headless-shell") and os.access(
                    candidate, os.X_OK
                ):
                    return candidate
    return None


def route_from_settings(settings: Settings) -> BrowserRoute | None:
    """The route the settings configure, else playwright's own Chromium if installed, else None."""
    if settings.browser_ws_endpoint:
        return WsRoute(settings.browser_ws_endpoint, settings.browser_ws_header_values)
    if settings.browser_cdp_url:
        return CdpRoute(settings.browser_cdp_url)
    if settings.browser_executable_path is not None:
        return LaunchRoute(settings.browser_executable_path)
    if playwright_chromium() is not None:
        return LaunchRoute(None)
    return None
