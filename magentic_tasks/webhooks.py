"""Signed webhooks, as Standard Webhooks specifies them, and which callback URLs are allowed.

A delivery is an HTTP POST of the event's JSON with three headers: `webhook-id` (the event id,
the same on every retry), `webhook-timestamp` (seconds since the epoch) and `webhook-signature`
(`v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` with the secret's key). Secrets are
`whsec_` + base64 of at least 24 random bytes; a secret without the prefix is used as UTF-8 bytes.

Callback URLs are checked twice: when the task is created (https, a host on the
`CALLBACK_ALLOWED_HOSTS` list, no IP literal in a private, loopback or link-local range), and when
delivering: the POST goes through a `checked_session` (magentic_tasks/outbound.py), which resolves
the name once, refuses it unless every address is public, and connects only to those addresses, so
a DNS name that points (or later points) inside the network is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .outbound import AddressRefused, IPAddress, checked_session, ip_address

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


def secret_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks secret stands for."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX):])
    return secret.encode("utf-8")


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


class CallbackRefused(ValueError):
    """A callback URL this server will not call; the message says why (never echoing the URL)."""


@dataclass(frozen=True)
class CallbackPolicy:
    """Which callback URLs are allowed: `allowed_hosts` exactly or as `*.suffix`; `allow_private`
    (local development and tests only) also admits http and private or loopback addresses."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False

    def check_url(self, url: str) -> None:
        """Refuse a URL that is malformed, not https, or whose host is not allowed."""
        if not self.allowed_hosts:
            raise CallbackRefused("callbacks are not enabled on this server (CALLBACK_ALLOWED_HOSTS is empty)")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (self.allow_private and parts.scheme == "http"):
            raise CallbackRefused("callback_url must be an https URL")
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password:
            raise CallbackRefused("callback_url must name a host, without credentials")
        if not any(host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:]))
                   for allowed in self.allowed_hosts):
            raise CallbackRefused("callback_url's host is not in CALLBACK_ALLOWED_HOSTS")
        literal = ip_address(host)
        if literal is not None and not self.address_allowed(literal):
            raise CallbackRefused("callback_url must not point at a private, loopback or link-local address")

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether a delivery may connect to `address` (the `AddressPolicy` of its session)."""
        return self.allow_private or address.is_global


@dataclass(frozen=True)
class Delivery:
    """One attempt's result: delivered (a 2xx) or not, with the status code or the error's kind."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None


async def deliver(
    url: str,
    event: dict[str, Any],
    *,
    secret: str,
    policy: CallbackPolicy,
    request_seconds: float = 10.0,
) -> Delivery:
    """POST `event` to `url`, signed; never raises for the receiver's failures."""
    try:
        policy.check_url(url)
    except CallbackRefused as refused:
        return Delivery(False, error=f"refused: {refused}")
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": str(event["id"]),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, str(event["id"]), timestamp, body),
    }
    try:
        async with (
            checked_session(policy, timeout=aiohttp.ClientTimeout(total=request_seconds)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            status = response.status
    except AddressRefused as refused:
        return Delivery(False, error=f"refused: callback_url: {refused}")
    except (aiohttp.ClientError, TimeoutError) as error:
        return Delivery(False, error=type(error).__name__)
    return Delivery(200 <= status < 300, status_code=status)
