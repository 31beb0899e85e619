"""Signed webhooks: signatures an independent Standard Webhooks implementation accepts, and the
callback URLs the service refuses."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from magentic_tasks.webhooks import CallbackPolicy, CallbackRefused, deliver, signature
from tests.support.webhook_receiver import Receiver, webhook_receiver

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
LOCAL = CallbackPolicy(allowed_hosts=("127.0.0.1",), allow_private=True)


@given(message_id=st.text(min_size=1, max_size=40),
       timestamp=st.integers(min_value=1_600_000_000, max_value=2_000_000_000),
       body=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=2000))
def test_signatures_match_the_reference_implementation(message_id: str, timestamp: int, body: str) -> None:
    expected = Webhook(SECRET).sign(message_id, datetime.fromtimestamp(timestamp, tz=UTC), body)

    assert signature(SECRET, message_id, timestamp, body.encode("utf-8")) == expected


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver(SECRET) as found:
        yield found


EVENT = {"specversion": "1.0", "id": "evt-1", "type": "magentic.task.completed", "data": {"task_id": "t-1"}}


async def test_a_delivery_is_signed_and_verified_by_the_receiver(receiver: Receiver) -> None:
    result = await deliver(receiver.url, EVENT, secret=SECRET, policy=LOCAL)

    assert result.delivered and result.status_code == 204
    assert receiver.received == [EVENT] and receiver.rejected == 0


async def test_a_receiver_with_another_secret_rejects_the_delivery(receiver: Receiver) -> None:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()

    result = await deliver(receiver.url, EVENT, secret=other, policy=LOCAL)

    assert not result.delivered and result.status_code == 401 and receiver.rejected == 1


async def test_a_failing_receiver_is_reported_not_raised(receiver: Receiver) -> None:
    receiver.fail_first = 1

    first = await deliver(receiver.url, EVENT, secret=SECRET, policy=LOCAL)
    second = await deliver(receiver.url, EVENT, secret=SECRET, policy=LOCAL)

    assert (first.delivered, first.status_code) == (False, 503)
    assert second.delivered and receiver.received == [EVENT]


async def test_an_unreachable_receiver_is_reported_not_raised() -> None:
    result = await deliver("http://127.0.0.1:9/hooks", EVENT, secret=SECRET, policy=LOCAL, request_seconds=2)

    assert not result.delivered and result.status_code is None and result.error


PRODUCTION = CallbackPolicy(allowed_hosts=("hooks.example.com", "*.contoso.net", "10.0.0.5", "127.0.0.1"))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://evil.example.org/x", "CALLBACK_ALLOWED_HOSTS"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://10.0.0.5/x", "private"),
        ("https://127.0.0.1/x", "private"),
        ("ftp://hooks.example.com/x", "https"),
        ("https:///nohost", "host"),
        ("https://contoso.net.evil.org/x", "CALLBACK_ALLOWED_HOSTS"),
        ("https://hooks.example.com:99999/x", "port"),
        ("https://hooks.example.com:0/x", "port"),
        ("https://[hooks.example.com/x", "not a valid URL"),
        ("https://hooks.example\uff03.com/x", "not a valid URL"),
        ("https://hooks.example.com\\@evil.org/x", "not a valid URL"),
        ("https://hooks.example.com/x y", "not a valid URL"),
        ("https://hooks.example.com/x\n", "not a valid URL"),
        ("https://x..api.contoso.net/x", "host name"),
        ("https://" + "a" * 64 + ".contoso.net/x", "host name"),
        ("https://a_b c.contoso.net/x", "not a valid URL"),
        ("https://a!b.contoso.net/x", "host name"),
    ],
)
def test_urls_the_policy_refuses(url: str, why: str) -> None:
    with pytest.raises(CallbackRefused) as refused:
        PRODUCTION.check_url(url)

    assert why in str(refused.value) and url not in str(refused.value)


def test_allowed_urls_pass() -> None:
    PRODUCTION.check_url("https://hooks.example.com/tasks?x=1")
    PRODUCTION.check_url("https://api.contoso.net/hook")
    PRODUCTION.check_url("https://HOOKS.Example.COM./hook")
    PRODUCTION.check_url("https://hooks.example.com:8443/hook")


def test_an_internationalised_host_matches_its_ascii_form() -> None:
    policy = CallbackPolicy(allowed_hosts=("xn--bcher-kva.example",))

    policy.check_url("https://B\u00fccher.example/hook")


def test_without_an_allow_list_no_callback_is_accepted() -> None:
    with pytest.raises(CallbackRefused, match="not enabled"):
        CallbackPolicy().check_url("https://hooks.example.com/x")


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery() -> None:
    policy = CallbackPolicy(allowed_hosts=("localhost",))

    result = await deliver("https://localhost/hooks", EVENT, secret=SECRET, policy=policy)

    assert not result.delivered and result.error is not None and "resolves to a private" in result.error


def test_the_event_body_is_plain_json() -> None:
    assert json.loads(json.dumps(EVENT)) == EVENT


async def test_a_name_that_resolves_again_to_loopback_after_its_check_is_never_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the first answer is public, every later one loopback. Only the checked answer
    may be connected to, so the local server must see no connection at all."""
    local_connections: list[object] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local_connections.append(writer.get_extra_info("peername"))
        writer.close()

    local = await asyncio.start_server(record, "127.0.0.1", 0)
    port = local.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    answers = iter(["93.184.215.14"])
    lookups: list[str] = []
    connected: list[str] = []

    async def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers, "127.0.0.1"), port))]

    real_connect = loop.sock_connect

    async def sock_connect(sock: socket.socket, address: tuple[str, int]) -> None:
        connected.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError("no network beyond 127.0.0.1 in tests")
        await real_connect(sock, address)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    policy = CallbackPolicy(allowed_hosts=("hooks.example.com",))

    async with local:
        result = await deliver(f"https://hooks.example.com:{port}/hooks", EVENT, secret=SECRET, policy=policy)

    assert not result.delivered
    assert local_connections == [] and connected == ["93.184.215.14"] and lookups == ["hooks.example.com"]


@pytest.mark.parametrize(
    ("url", "secret", "policy"),
    [
        ("https://hooks.example.com:99999/x", SECRET, PRODUCTION),
        ("https://x..api.contoso.net/x", SECRET, PRODUCTION),
        ("https://[hooks.example.com/x", SECRET, PRODUCTION),
        ("http://127.0.0.1:9/hooks", "whsec_abc", LOCAL),
    ],
    ids=["port out of range", "empty host label", "malformed URL", "malformed secret"],
)
async def test_an_attempt_that_cannot_be_made_is_a_failed_attempt_not_an_error(
    url: str, secret: str, policy: CallbackPolicy
) -> None:
    result = await deliver(url, EVENT, secret=secret, policy=policy)

    assert not result.delivered and result.status_code is None and result.error
    assert secret not in result.error and url not in result.error


async def test_an_event_that_cannot_be_sent_is_a_failed_attempt(receiver: Receiver) -> None:
    result = await deliver(receiver.url, {"no": "id"}, secret=SECRET, policy=LOCAL)

    assert not result.delivered and result.error and receiver.attempts == []


@given(st.one_of(st.text(max_size=80), st.text(max_size=60).map(lambda rest: "https://" + rest),
                 st.text(max_size=40).map(lambda rest: f"https://{rest}.contoso.net/x")))
def test_any_string_is_either_a_callback_url_or_refused_never_an_error(url: str) -> None:
    with contextlib.suppress(CallbackRefused):
        PRODUCTION.check_url(url)
