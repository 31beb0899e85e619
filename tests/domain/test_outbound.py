"""Checked outbound connections: a session connects only to addresses its policy allowed, however
the name resolves and wherever a redirect points; the name still goes in the Host header."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from magentic_tasks.outbound import AddressRefused, IPAddress, checked_session, ip_address


@dataclass(frozen=True)
class Only:
    """A policy that allows exactly `addresses`."""

    addresses: frozenset[str]

    def address_allowed(self, address: IPAddress) -> bool:
        return str(address) in self.addresses


@dataclass
class Server:
    url: str
    hosts: list[str] = field(default_factory=list)  # the Host header of every request


@asynccontextmanager
async def server(host: str, redirect_to: str | None = None) -> AsyncIterator[Server]:
    found = Server("")

    async def handle(request: web.Request) -> web.Response:
        found.hosts.append(request.headers.get("Host", ""))
        if redirect_to is not None:
            raise web.HTTPFound(redirect_to)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    found.url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]
    try:
        yield found
    finally:
        await runner.cleanup()


def resolve_names(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make the running loop resolve each name of `answers` to its addresses; the lookups made."""
    loop = asyncio.get_running_loop()
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
                for address in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return lookups


LOOPBACK_ONE = Only(frozenset({"127.0.0.1"}))


async def test_a_name_resolved_to_an_allowed_address_is_connected_to_under_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with server("127.0.0.1") as found:
        port = found.url.rsplit(":", 1)[1].rstrip("/")
        lookups = resolve_names(monkeypatch, {"hooks.test": ["127.0.0.1"]})
        async with checked_session(LOOPBACK_ONE) as session, session.get(f"http://hooks.test:{port}/") as response:
            assert response.status == 200

    assert found.hosts == [f"hooks.test:{port}"] and lookups == ["hooks.test"]


@pytest.mark.parametrize("answers", [["127.0.0.2"], ["127.0.0.1", "127.0.0.2"]], ids=["refused", "one of two refused"])
async def test_a_name_with_any_address_the_policy_refuses_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    async with server("127.0.0.1") as found:
        port = found.url.rsplit(":", 1)[1].rstrip("/")
        resolve_names(monkeypatch, {"hooks.test": answers})
        async with checked_session(LOOPBACK_ONE) as session:
            with pytest.raises(AddressRefused, match="resolves to a private") as refused:
                await session.get(f"http://hooks.test:{port}/")

    assert found.hosts == [] and "hooks.test" not in str(refused.value)


async def test_an_ip_literal_the_policy_refuses_is_not_connected_to() -> None:
    async with server("127.0.0.1") as found, checked_session(Only(frozenset())) as session:
        with pytest.raises(AddressRefused):
            await session.get(found.url)

    assert found.hosts == []


async def test_a_redirect_to_an_address_the_policy_refuses_is_not_followed() -> None:
    async with (
        server("127.0.0.2") as inside,
        server("127.0.0.1", redirect_to=inside.url) as outside,
        checked_session(LOOPBACK_ONE) as session,
    ):
        with pytest.raises(AddressRefused):
            await session.get(outside.url)

    assert len(outside.hosts) == 1 and inside.hosts == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::ffff:10.0.0.1", "10.0.0.1"), ("hooks.test", None)],
)
def test_ip_addresses_are_read_as_the_address_they_reach(text: str, expected: str | None) -> None:
    address = ip_address(text)

    assert (None if address is None else str(address)) == expected

