"""A real Chromium (Debian's), pages served on 127.0.0.1, and a test resolver for names.

No test reaches beyond 127.0.0.1: names resolve through `MapResolver`, the filtering proxy may only
connect to loopback (`loopback_only`), and a Chromium the tests start themselves (CDP) has a dead
proxy for everything that is not loopback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.web_site import CHROMIUM, Site, chromium_missing, serve_site

__all__ = ["CHROMIUM", "MapResolver", "Site", "chromium_missing", "chromium_pids"]


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


@pytest.fixture
def site() -> Iterator[Site]:
    with serve_site() as found:
        yield found


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
