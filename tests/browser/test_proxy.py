"""The filtering proxy on the wire, without a browser: what it forwards, where it connects, what it refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from magentic_tasks.browser import FilteringProxy, HostRules, NavigationPolicy
from tests.browser.conftest import MapResolver, Site

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("playwright") is None, reason="playwright is not installed"
)


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def proxy_for(resolver: MapResolver, allowed: tuple[str, ...] = ()) -> tuple[FilteringProxy, int]:
    proxy = FilteringProxy(NavigationPolicy(HostRules(allowed=allowed), resolver))
    url = await proxy.start()
    return proxy, int(url.rsplit(":", 1)[1])


async def exchange(port: int, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def test_a_tunnel_goes_to_the_checked_address_and_relays_bytes(
    echo_port: int, loopback_only: list[tuple[str, int]]
) -> None:
    resolver = MapResolver({"echo.test": [["127.0.0.1"]]})
    proxy, port = await proxy_for(resolver, allowed=("echo.test",))
    try:
        reader, writer, head = await exchange(port, f"CONNECT echo.test:{echo_port} HTTP/1.1\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 200")
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.close()
        assert loopback_only == [("127.0.0.1", echo_port)]
        assert resolver.calls == ["echo.test"]  # resolved once; the connection used that answer
    finally:
        await proxy.close()


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("inside.test:443", b"inside.test resolves to a private network address"),
        ("10.0.0.1:443", b"10.0.0.1 is a private network address"),
        ("169.254.169.254:80", b"169.254.169.254 is a link-local network address"),
        ("[::ffff:127.0.0.1]:443", b"is a loopback network address"),
        ("nowhere.test:443", b"nowhere.test could not be resolved"),
    ],
)
async def test_refused_tunnels_get_a_403_and_no_connection(
    target: str, reason: bytes, loopback_only: list[tuple[str, int]]
) -> None:
    proxy, port = await proxy_for(MapResolver({"inside.test": [["93.184.215.14", "10.1.1.1"]]}))
    try:
        reader, _writer, head = await exchange(port, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 403")
        body = await reader.read()
        assert reason in body and b"This address is not allowed" in body
        assert loopback_only == [] and len(proxy.refused) == 1
    finally:
        await proxy.close()


async def test_plain_http_is_forwarded_in_origin_form_one_request_per_connection(
    site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    proxy, port = await proxy_for(MapResolver({"app.test": [["127.0.0.1"]]}), allowed=("app.test",))
    try:
        request = (
            f"GET http://app.test:{site.port}/hello?x=1 HTTP/1.1\r\nHost: app.test:{site.port}\r\n"
            "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n"
        )
        reader, _writer, head = await exchange(port, request.encode())
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Hello from /hello" in await reader.read()  # the proxy closes after the answer
        assert site.requests == [("/hello?x=1", f"app.test:{site.port}")]
        assert loopback_only == [("127.0.0.1", site.port)]
    finally:
        await proxy.close()


async def test_a_refused_plain_request_gets_the_refused_page(site: Site, loopback_only: list[tuple[str, int]]) -> None:
    proxy, port = await proxy_for(MapResolver())
    try:
        reader, _writer, head = await exchange(port, f"GET {site.url('/secret')} HTTP/1.1\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 403") and b"text/html" in head
        assert b"127.0.0.1 is a loopback network address" in await reader.read()
        assert site.requests == [] and loopback_only == []
    finally:
        await proxy.close()


async def test_malformed_requests_are_dropped_and_closing_ends_open_tunnels(
    echo_port: int, loopback_only: list[tuple[str, int]]
) -> None:
    proxy, port = await proxy_for(MapResolver(), allowed=("127.0.0.1",))
    for malformed in (b"NONSENSE", b"GET http://a.test:99999/ HTTP/1.1", b"CONNECT a.test:https HTTP/1.1"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(malformed + b"\r\n\r\n")
        assert await reader.read() == b""
    reader, writer, head = await exchange(port, f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\n\r\n".encode())
    assert head.startswith(b"HTTP/1.1 200")
    await proxy.close()
    assert await asyncio.wait_for(reader.read(), 10) == b""
