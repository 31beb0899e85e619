"""A filtering forward proxy on 127.0.0.1 for a locally launched browser.

The browser sends every request through it (`--proxy-server`, with `<-loopback>` so that loopback
is proxied too): `CONNECT host:port` for TLS and WebSockets over TLS, absolute-form requests
(`GET http://host/...`) for plain HTTP. For each connection the proxy resolves the host once,
checks every address (`NavigationPolicy`) and connects to one of those very addresses, never
resolving again: a name that answers a public address to the check and a loopback one to the
connection (DNS rebinding) cannot get through, and neither can a redirect, a frame, a subresource
or a download to a refused address, since each is a new connection or request here. TLS stays end
to end: a tunnel only relays bytes. A refused plain-HTTP request gets a 403 with the refused page;
a refused CONNECT gets a 403, which Chromium shows as its own error page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from ..hostnames import IPAddress
from ._hosts import NavigationPolicy, NavigationRefused, refused_page

logger = logging.getLogger(__name__)

# (address, port) -> a connected stream; tests wrap it to see where the proxy connects.
Connector = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

_HEAD_LIMIT = 64 * 1024
_HOP_BY_HOP = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}


class _BadRequest(Exception):
    pass


async def _open_connection(address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(address, port)


class FilteringProxy:
    """The proxy server: `await start()` gives its URL for `proxy={"server": ...}`; `close()` stops
    it and every connection it holds."""

    def __init__(
        self,
        policy: NavigationPolicy,
        *,
        connect: Connector | None = None,
        connect_timeout: float = 15.0,
    ) -> None:
        self.policy = policy
        self._connect = connect or _open_connection
        self._connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.refused: deque[str] = deque(maxlen=100)  # why the latest connections were refused

    async def start(self) -> str:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        handlers = list(self._handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _BadRequest) as error:
            logger.debug("proxy connection ended: %s", type(error).__name__)
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, _, header_block = head.partition(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ")
        except ValueError:
            raise _BadRequest from None
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            host, port = host.strip("[]"), _port(port_text)
        else:
            parts = urlsplit(target)
            if parts.scheme != "http" or not parts.hostname:
                await _answer(writer, 400, "Bad Request", "This proxy takes absolute http:// requests only")
                return
            host, port = parts.hostname, parts.port or 80
        try:
            addresses = await self.policy.checked_addresses(host, port)
        except NavigationRefused as refused:
            self.refused.append(str(refused))
            logger.info("browser request refused: %s", refused)
            await _answer(writer, 403, "Forbidden", refused_page(str(refused)), html=True)
            return
        upstream = await self._open(addresses, port)
        if upstream is None:
            await _answer(writer, 502, "Bad Gateway", f"{host} did not accept a connection")
            return
        up_reader, up_writer = upstream
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                up_writer.write(_origin_form(method, target, version, header_block))
            await _exchange(reader, writer, up_reader, up_writer)
        finally:
            up_writer.close()

    async def _open(
        self, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for address in addresses:  # only the addresses that were checked, never the name again
            try:
                async with asyncio.timeout(self._connect_timeout):
                    return await self._connect(str(address), port)
            except (OSError, TimeoutError):
                continue
        return None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _BadRequest
    return int(text)


def _origin_form(method: str, target: str, version: str, header_block: bytes) -> bytes:
    """The request as the origin server expects it: path only, no proxy headers, one request per
    connection (`Connection: close`), except a WebSocket upgrade, which keeps its `Connection`."""
    parts = urlsplit(target)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [line for line in header_block.split(b"\r\n") if line]
    upgrade = any(line.split(b":", 1)[0].strip().lower() == b"upgrade" for line in lines)
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    kept.append(b"Connection: Upgrade" if upgrade else b"Connection: close")
    return f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(kept) + b"\r\n\r\n"


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Relay both ways until the server's side ends: that ends the answer (or the tunnel)."""
    upward = asyncio.create_task(_relay(reader, up_writer))
    try:
        await _relay(up_reader, writer)
    finally:
        upward.cancel()
        await asyncio.gather(upward, return_exceptions=True)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the end of `reader`, then half-close `writer` so the answer can still come back."""
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str, body: str, *, html: bool = False) -> None:
    payload = body.encode("utf-8")
    kind = "text/html" if html else "text/plain"
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode("latin-1") + payload
    )
    with contextlib.suppress(OSError):
        await writer.drain()
