"""Which hosts and addresses the browser may reach: pure checks, the standard library only.

A host is refused when it is on `WEB_BLOCKED_HOSTS`, or when any address it resolves to is not
public (loopback, private, link-local with the cloud metadata service 169.254.169.254, CGNAT
100.64/10, unspecified, multicast, reserved; IPv6 forms that embed an IPv4 address are judged by
that address) unless the host, or that address, is on `WEB_ALLOWED_HOSTS`. List entries are exact
names, `*.suffix` (any name below the suffix, not the suffix itself) or IP addresses.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ..hostnames import IPAddress, parse_address

# (host, port) -> the addresses it resolves to, as text; tests map names with their own.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class NavigationRefused(Exception):
    """A request the browser may not make; the message says why, for the agent to read."""


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address this is (`loopback`, `private`, ...), or None if public."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_problem(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "shared (CGNAT)"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    return None if address.is_global else "reserved"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _listed(host: str, patterns: Sequence[str]) -> bool:
    return any(host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])) for pattern in patterns)


@dataclass(frozen=True)
class HostRules:
    """`WEB_ALLOWED_HOSTS` and `WEB_BLOCKED_HOSTS`, normalised (`normalise_host_pattern`)."""

    allowed: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    def problem(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """Why `host`, resolving to `addresses`, is refused; None when the browser may go there."""
        name = host.strip("[]").lower().rstrip(".")
        if _listed(name, self.blocked) or any(str(address) in self.blocked for address in addresses):
            return f"{name} is on this server's list of blocked hosts"
        if _listed(name, self.allowed):
            return None
        for address in addresses:
            kind = address_problem(address)
            if kind is not None and str(address) not in self.allowed:
                return f"{name} is a {kind} network address" if parse_address(name) else (
                    f"{name} resolves to a {kind} network address"
                )
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the operating system resolves `host` to (the event loop's `getaddrinfo`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class NavigationPolicy:
    """The rules plus the resolver that names are checked with."""

    rules: HostRules = field(default_factory=HostRules)
    resolver: Resolver = system_resolver

    async def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host` once and return its addresses, or raise `NavigationRefused` if any is
        refused (or it does not resolve): a caller connects only to what this returned."""
        literal = parse_address(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                found = await self.resolver(host, port)
            except OSError:
                raise NavigationRefused(f"{host} could not be resolved") from None
            addresses = [address for address in map(parse_address, found) if address is not None]
            if not addresses:
                raise NavigationRefused(f"{host} could not be resolved")
        problem = self.rules.problem(host, addresses)
        if problem is not None:
            raise NavigationRefused(problem)
        return addresses


def refused_page(reason: str) -> str:
    """The HTML page the agent sees instead of a refused address."""
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Address not allowed</title></head>"
        "<body><h1>This address is not allowed</h1>"
        f"<p>{html.escape(reason)}.</p><p>This service's browser does not visit loopback, private, "
        "link-local or other internal network addresses, nor hosts its operator blocked.</p></body></html>"
    )
