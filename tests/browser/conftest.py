"""A real Chromium (Debian's), pages served on 127.0.0.1, and a test resolver for names.

No test reaches beyond 127.0.0.1: names resolve through `MapResolver`, the filtering proxy may only
connect to loopback (`loopback_only`), and a Chromium the tests start themselves (CDP) has a dead
proxy for everything that is not loopback.
"""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")


def chromium_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -r requirements.txt)"
    if shutil.which(CHROMIUM) is None:
        return (
            f"chromium is missing ({CHROMIUM}): scripts/test.sh installs Debian's chromium when run as root "
            "(apt-get install chromium); or set TEST_CHROMIUM to a Chromium executable"
        )
    return None


@pytest.fixture
def chromium() -> str:
    """The Chromium executable; the test is skipped, with the reason, when there is none."""
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    return CHROMIUM


class MapResolver:
    """A resolver for tests: each name to its answers, in turn (the last one repeats)."""

    def __init__(self, names: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.names = dict(names or {})
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host in ("127.0.0.1", "localhost"):
            return ["127.0.0.1"]
        answers = self.names.get(host)
        if not answers:
            raise OSError(f"{host} is not a test name")
        return answers[min(self.calls.count(host), len(answers)) - 1]


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The proxy's connections, which may only go to 127.0.0.1 (anything else fails the test)."""
    from magentic_tasks.browser import _proxy

    connections: list[tuple[str, int]] = []

    async def connect(address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        connections.append((address, port))
        assert address == "127.0.0.1", f"the proxy tried to connect to {address}"
        return await asyncio.open_connection(address, port)

    monkeypatch.setattr(_proxy, "_open_connection", connect)
    return connections


@dataclass
class Site:
    """A test web server on 127.0.0.1: `pages` maps a path to a handler; `requests` lists (path, Host)."""

    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path.split("?")[0] for path, _ in self.requests]


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append((self.path, self.headers.get("Host", "")))
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path == "/redirect":
                self.send(302, b"", headers={"Location": query["to"]})
            elif parts.path == "/set-cookie":
                self.send(200, b"<p>set</p>", headers={"Set-Cookie": f"task={query['value']}; Path=/"})
            elif parts.path == "/show-cookie":
                self.send(200, f"<p>cookie: [{self.headers.get('Cookie', '')}]</p>".encode())
            elif parts.path == "/download":
                self.download(int(query["size"]), "length" in query)
            else:
                body = query.get("body", f"<p>Hello from {parts.path}</p>")
                self.send(200, f"<html><head><title>Test page</title></head><body>{body}</body></html>".encode())

        def download(self, size: int, announce: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="data.bin"')
            if announce:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for start in range(0, size, len(chunk)):
                    self.wfile.write(chunk[: size - start])
            except OSError:
                pass  # the browser stopped the download
            self.close_connection = True

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    found = Site()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
async def make_pool(chromium: str) -> AsyncIterator[Callable[..., Any]]:
    """`make_pool(allowed=..., blocked=..., names=..., route=..., download_max_bytes=...)`: a pool
    on a launched Chromium (marked, so a test can find its processes), closed after the test."""
    from magentic_tasks.browser import BrowserPool, HostRules, LaunchRoute, NavigationPolicy

    pools: list[BrowserPool] = []

    def make(
        *,
        allowed: tuple[str, ...] = (),
        blocked: tuple[str, ...] = (),
        resolver: MapResolver | None = None,
        route: Any = None,
        download_max_bytes: int = 1024 * 1024,
    ) -> BrowserPool:
        marker = f"--test-pool={uuid.uuid4().hex}"
        policy = NavigationPolicy(HostRules(allowed, blocked), resolver or MapResolver())
        pool = BrowserPool(
            route or LaunchRoute(Path(chromium), (marker,)), policy, download_max_bytes=download_max_bytes
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


def chromium_pids(marker: str) -> list[int]:
    """The processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
