"""Outbound HTTP that connects only to addresses a policy has checked.

Checking a URL's host name is not enough: the name can resolve to a public address when it is
checked and to a private one when the client connects (DNS rebinding). A `checked_session` resolves
each name once, refuses it when any of its addresses is not allowed, and hands the connector exactly
the addresses it checked; every socket it opens is checked again against the address it connects
to (IP literals and redirects included). TLS (SNI, the certificate's name) and the Host header still
use the name. Environment proxies are ignored: a proxy would connect on the session's behalf.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Protocol

import aiohttp
from aiohappyeyeballs import AddrInfoType, SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressPolicy(Protocol):
    """Which addresses outbound connections may reach."""

    def address_allowed(self, address: IPAddress) -> bool: ...


class AddressRefused(ValueError):
    """A connection the policy refused; the message names neither the host nor the address."""


def ip_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and an IPv6 zone allowed; IPv4-mapped IPv6 as the IPv4
    address it reaches), or None when it is a name."""
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _allowed(policy: AddressPolicy, text: str) -> bool:
    address = ip_address(text)
    return address is not None and policy.address_allowed(address)


class CheckedResolver(AbstractResolver):
    """Resolves a name once (through `resolver`, by default the system's) and answers only when the
    policy allows every address the name resolves to."""

    def __init__(self, policy: AddressPolicy, resolver: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        if not all(_allowed(self._policy, answer["host"]) for answer in answers):
            raise AddressRefused("the host resolves to a private, loopback or link-local address")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


def _checked_socket(policy: AddressPolicy) -> SocketFactoryType:
    def open_socket(addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = addr_info
        if not _allowed(policy, str(address[0])):
            raise AddressRefused("the address is private, loopback or link-local")
        return socket.socket(family=family, type=kind, proto=proto)

    return open_socket


def checked_session(
    policy: AddressPolicy, *, timeout: aiohttp.ClientTimeout | None = None, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """An aiohttp session that connects only where `policy` allows (call it with a running loop).
    A refused connection raises `AddressRefused` from the request."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(policy, resolver),
        use_dns_cache=False,  # every connection resolves and checks afresh
        socket_factory=_checked_socket(policy),
    )
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout or aiohttp.ClientTimeout(total=30), trust_env=False
    )
