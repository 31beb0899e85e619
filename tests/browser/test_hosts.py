"""The address policy without a browser: which hosts and addresses are refused, and why."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from magentic_tasks.browser import HostRules, NavigationPolicy, NavigationRefused, address_problem
from magentic_tasks.hostnames import normalise_host_pattern


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("::7f00:1", "loopback"),  # IPv4-compatible 127.0.0.1
    ],
)
def test_every_internal_kind_of_address_is_named(address: str, kind: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "100.128.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_patterns_are_normalised_and_malformed_ones_refused() -> None:
    assert normalise_host_pattern(" Example.COM. ") == "example.com"
    assert normalise_host_pattern("*.Corp.Example") == "*.corp.example"
    assert normalise_host_pattern("[::1]") == "::1"
    assert normalise_host_pattern("0:0::1") == "::1"
    assert normalise_host_pattern("bücher.de") == "xn--bcher-kva.de"
    for bad in ("http://example.com", "example.com:8080", "*", "a b", "*.", "ex*ample.com", ""):
        with pytest.raises(ValueError, match="not a host name"):
            normalise_host_pattern(bad)


def addresses(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(text) for text in texts]


def test_rules_refuse_internal_addresses_unless_the_host_or_address_is_allowed() -> None:
    rules = HostRules(allowed=("wiki.corp", "*.internal.example", "10.9.9.9"))
    assert rules.problem("example.com", addresses("93.184.215.14")) is None
    assert rules.problem("evil.example", addresses("93.184.215.14", "10.0.0.1")) == (
        "evil.example resolves to a private network address"
    )
    assert rules.problem("10.0.0.1", addresses("10.0.0.1")) == "10.0.0.1 is a private network address"
    assert rules.problem("wiki.corp", addresses("10.0.0.1")) is None
    assert rules.problem("a.internal.example", addresses("127.0.0.1")) is None
    assert rules.problem("internal.example", addresses("127.0.0.1")) is not None  # *.suffix is below it only
    assert rules.problem("other.corp", addresses("10.9.9.9")) is None  # an allowed address


def test_blocked_hosts_and_addresses_are_refused_even_when_public_or_allowed() -> None:
    rules = HostRules(allowed=("*.example.com",), blocked=("ads.example.com", "*.tracker.net", "93.184.215.14"))
    assert rules.problem("ads.example.com", addresses("127.0.0.1")) == (
        "ads.example.com is on this server's list of blocked hosts"
    )
    assert rules.problem("x.tracker.net", addresses("8.8.8.8")) is not None
    assert rules.problem("fine.org", addresses("93.184.215.14")) is not None
    assert rules.problem("WWW.Example.com.", addresses("127.0.0.1")) is None


class MapResolver:
    """A test resolver: names to addresses, counting calls."""

    def __init__(self, names: dict[str, Sequence[str]]) -> None:
        self.names = names
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.names:
            raise OSError("not found")
        return self.names[host]


async def test_the_policy_resolves_once_and_checks_every_address() -> None:
    resolver = MapResolver({"mixed.test": ["93.184.215.14", "127.0.0.1"], "public.test": ["93.184.215.14"]})
    policy = NavigationPolicy(HostRules(), resolver)
    assert await policy.checked_addresses("public.test", 443) == addresses("93.184.215.14")
    with pytest.raises(NavigationRefused, match=r"mixed\.test resolves to a loopback network address"):
        await policy.checked_addresses("mixed.test", 443)
    with pytest.raises(NavigationRefused, match="could not be resolved"):
        await policy.checked_addresses("missing.test", 80)
    with pytest.raises(NavigationRefused, match=r"169\.254\.169\.254 is a link-local"):
        await policy.checked_addresses("169.254.169.254", 80)
    assert resolver.calls == ["public.test", "mixed.test", "missing.test"]  # literals are not resolved
