"""Signed webhooks, as Standard Webhooks specifies them, and which callback URLs are allowed.

A delivery is an HTTP POST of the event's JSON with three headers: `webhook-id` (the event id,
the same on every retry), `webhook-timestamp` (seconds since the epoch) and `webhook-signature`
(`v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` with the secret's key). Secrets are
`whsec_` + base64 of at least 24 random bytes; a secret without the prefix is used as UTF-8 bytes.
One attempt never raises: whatever keeps it from being made is a failed attempt, retried later.

Callback URLs are checked twice: when the task is created (a URL the HTTP client parses the same
way, https, a port from 1 to 65535, a valid host name on the `CALLBACK_ALLOWED_HOSTS` list, no IP
literal in a private, loopback or link-local range), and when
delivering: the POST goes through a `checked_session` (magentic_tasks/outbound.py), which resolves
the name once, refuses it unless every address is public, and connects only to those addresses, so
a DNS name that points (or later points) inside the network is refused too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from .outbound import AddressRefused, IPAddress, checked_session, ip_address

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
SIGNATURE_VERSION = "v1"
MAX_HOST_CHARS = 253
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def secret_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks secret stands for; ValueError (never quoting the secret) for a
    `whsec_` secret that is not base64 of at least 24 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a {SECRET_PREFIX} secret must be followed by base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a {SECRET_PREFIX} secret must hold at least {MIN_SECRET_BYTES} bytes")
    return key


def host_name(text: str) -> str:
    """A host as callback URLs are compared by: the HTTP client's ASCII (IDNA) form, lower case,
    without a trailing dot, or an IP address; a `*.` prefix is kept. ValueError when `text` cannot be
    a host (an empty or over-long label, a character no host name has)."""
    text = text.strip()
    wildcard = "*." if text.startswith("*.") else ""
    try:
        raw = URL.build(scheme="https", host=text.removeprefix(wildcard).strip("[]")).raw_host or ""
    except (ValueError, UnicodeError):
        raise ValueError("not a host name") from None
    return wildcard + _checked_host(raw)


def _checked_host(raw: str) -> str:
    host = raw.lower().removesuffix(".")
    if ip_address(host) is not None:
        return host
    if len(host) > MAX_HOST_CHARS or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError("not a host name")
    return host


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
    (local development and tests only) also admits http and private or loopback addresses.
    `subject` and `hosts_setting` name the field and the setting in refusals (attachment URLs use
    the same policy, with their own)."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    subject: str = "callback_url"
    hosts_setting: str = "CALLBACK_ALLOWED_HOSTS"

    def check_url(self, url: str) -> None:
        """Refuse a URL that is malformed, not https, or whose host is not allowed."""
        subject = self.subject
        if not self.allowed_hosts:
            what = "callbacks are" if subject == "callback_url" else f"{subject}s are"
            raise CallbackRefused(f"{what} not enabled on this server ({self.hosts_setting} is empty)")
        parts = _parsed(url, subject)  # as the HTTP client will parse it
        if parts.scheme != "https" and not (self.allow_private and parts.scheme == "http"):
            raise CallbackRefused(f"{subject} must be an https URL")
        if not parts.raw_host or "@" in (parts.raw_authority or ""):
            raise CallbackRefused(f"{subject} must name a host, without credentials")
        if not 1 <= (parts.port or 0) <= 65535:
            raise CallbackRefused(f"{subject}'s port must be from 1 to 65535")
        try:
            host = _checked_host(parts.raw_host)
        except ValueError:
            raise CallbackRefused(f"{subject}'s host is not a valid host name") from None
        if not any(host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:]))
                   for allowed in self.allowed_hosts):
            raise CallbackRefused(f"{subject}'s host is not in {self.hosts_setting}")
        literal = ip_address(host)
        if literal is not None and not self.address_allowed(literal):
            raise CallbackRefused(f"{subject} must not point at a private, loopback or link-local address")

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether a delivery may connect to `address` (the `AddressPolicy` of its session)."""
        return self.allow_private or address.is_global


def _parsed(url: str, subject: str = "callback_url") -> URL:
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise CallbackRefused(f"{subject} is not a valid URL (it holds white space or control characters)")
    try:
        return URL(url)
    except (ValueError, UnicodeError) as error:
        if "port" in str(error).lower():
            raise CallbackRefused(f"{subject}'s port must be from 1 to 65535") from None
        raise CallbackRefused(f"{subject} is not a valid URL") from None


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
    """POST `event` to `url`, signed: one attempt, whose every failure is reported, never raised (the
    callback orchestration retries it)."""
    try:
        return await _attempt(url, event, secret, policy, request_seconds)
    except Exception as error:  # whatever kept this attempt from being made: a later one may succeed
        logger.warning("a callback delivery attempt failed: %s", type(error).__name__)
        return Delivery(False, error=type(error).__name__)


async def _attempt(
    url: str, event: dict[str, Any], secret: str, policy: CallbackPolicy, request_seconds: float
) -> Delivery:
    try:
        policy.check_url(url)
    except CallbackRefused as refused:
        return Delivery(False, error=f"refused: {refused}")
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = int(time.time())
    try:
        signed = signature(secret, str(event["id"]), timestamp, body)
    except ValueError as invalid:
        return Delivery(False, error=f"WEBHOOK_SECRET is invalid: {invalid}")
    headers = {
        "content-type": "application/json",
        "webhook-id": str(event["id"]),
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signed,
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
