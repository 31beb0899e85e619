"""Host names and addresses as the settings' host lists hold them: one canonical form, the standard
library only (settings validate with it; the browser's navigation policy matches with it)."""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and an IPv6 zone allowed), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def normalise_host_pattern(entry: str) -> str:
    """A `WEB_ALLOWED_HOSTS` / `WEB_BLOCKED_HOSTS` entry in canonical form: lower case, no trailing
    dot, international names in their ASCII (IDNA) form, addresses in their standard notation."""
    text = entry.strip().lower().rstrip(".")
    address = parse_address(text)
    if address is not None:
        return str(address)
    wildcard = text.startswith("*.")
    name = text[2:] if wildcard else text
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        name = ""
    if not _NAME.match(name):
        raise ValueError(f"{entry.strip()!r} is not a host name, *.suffix or IP address")
    return f"*.{name}" if wildcard else name
