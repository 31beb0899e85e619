"""Fetching an attachment by URL, under the callback URLs' policy, with the size cap enforced while
the bytes stream in.

The URL is checked first (https, a host on `FILES_URL_ALLOWED_HOSTS`, no IP literal in a private,
loopback or link-local range), then fetched through `outbound.checked_session`: the name is resolved
once, refused unless every address is allowed, and the connection goes to the address that was
checked. Redirects are not followed (the target would need the same checks: ask for the final URL).
`FILES_URL_CA_BUNDLE` replaces the system's CAs (a private CA, or a test's).
"""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ..outbound import AddressRefused, checked_session
from ..webhooks import CallbackPolicy, CallbackRefused

CHUNK_BYTES = 256 * 1024


def url_policy(allowed_hosts: tuple[str, ...], allow_private: bool) -> CallbackPolicy:
    """The policy attachment URLs are held to (the callback URLs' rules, their own settings)."""
    return CallbackPolicy(allowed_hosts, allow_private, subject="url", hosts_setting="FILES_URL_ALLOWED_HOSTS")


class FetchFailed(Exception):
    """The URL could not be fetched; `retryable` when a later attempt may succeed. The message names
    neither the URL nor the address."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str


async def fetch_to_file(
    url: str, path: Path, *, policy: CallbackPolicy, max_bytes: int, ca_bundle: Path | None = None,
    timeout_seconds: float = 120.0,
) -> Fetched:
    """Stream `url` into `path` (written whole or not at all); `FetchFailed` when refused, not 200,
    over `max_bytes` (FILES_MAX_BYTES) or unreachable."""
    try:
        policy.check_url(url)
    except CallbackRefused as refused:
        raise FetchFailed(f"refused: {refused}", retryable=False) from None
    context = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle is not None else True
    partial = path.with_name(f".{path.name}.part")
    digest, size = hashlib.sha256(), 0
    timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_read=30)
    try:
        async with (
            checked_session(policy, timeout=timeout) as session,
            session.get(url, allow_redirects=False, ssl=context) as response,
        ):
            if response.status != 200:
                retry = response.status >= 500 or response.status in (408, 429)
                raise FetchFailed(f"the server answered HTTP {response.status}", retryable=retry)
            if response.content_length is not None and response.content_length > max_bytes:
                raise FetchFailed(f"larger than {max_bytes} bytes (FILES_MAX_BYTES)", retryable=False)
            with partial.open("wb") as out:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchFailed(f"larger than {max_bytes} bytes (FILES_MAX_BYTES)", retryable=False)
                    digest.update(chunk)
                    out.write(chunk)
        os.replace(partial, path)
    except AddressRefused as refused:
        raise FetchFailed(f"refused: {refused}", retryable=False) from None
    except ssl.SSLError as error:  # also a certificate that does not verify
        raise FetchFailed(f"TLS failed: {type(error).__name__}", retryable=False) from None
    except aiohttp.ClientConnectorCertificateError:
        raise FetchFailed("TLS failed: the certificate does not verify", retryable=False) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise FetchFailed(f"could not be fetched: {type(error).__name__}", retryable=True) from None
    finally:
        partial.unlink(missing_ok=True)
    return Fetched(size=size, sha256=digest.hexdigest())
