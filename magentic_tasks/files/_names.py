"""Safe file names: what a caller calls an attachment, and what the team calls its outputs, made
into names that stay inside the task's folder on every filesystem and in Blob Storage.

A name is NFC-normalised and trimmed. Refused: empty names, `.` and `..`, path separators (an
attachment is a plain name; an output's path is checked component by component), control and
format characters (bidirectional overrides included), and names longer than `MAX_NAME_CHARS`
characters or `MAX_NAME_BYTES` UTF-8 bytes. Normalised: the characters Windows forbids
(`<>:"|?*`, so also drive letters and alternate data streams) become `_`, trailing dots and
spaces go, and a device name (`CON`, `nul.txt`, `COM1`...) gets a leading `_`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_CHARS = 200
MAX_NAME_BYTES = 255
# A kept output's whole path (Blob Storage allows 1,024 characters for the blob name, prefix included).
MAX_PATH_CHARS = 512
MAX_PATH_DEPTH = 16
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')
_DEVICE = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$", re.IGNORECASE)


class NameRefused(ValueError):
    """A name that cannot be made safe; the message says why without repeating the name."""


def safe_name(raw: str) -> str:
    """`raw` as a safe plain file name; `NameRefused` when it cannot be one."""
    name = unicodedata.normalize("NFC", raw).strip()
    if "/" in name or "\\" in name:
        raise NameRefused("a file name must not contain a path (/ or \\)")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        raise NameRefused("a file name must not contain control or format characters")
    name = _WINDOWS_RESERVED.sub("_", name).rstrip(". ")
    if not name or set(name) <= {"."}:
        raise NameRefused("a file name must not be empty, '.' or '..'")
    if _DEVICE.match(name):
        name = f"_{name}"
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise NameRefused(f"a file name must be at most {MAX_NAME_CHARS} characters ({MAX_NAME_BYTES} bytes)")
    return name


def safe_path(relative: str) -> str:
    """A workspace-relative path (`/`-separated) whose every component is already a safe name, as
    is; `NameRefused` otherwise (an output is kept under the name the team gave it, or not at all)."""
    parts = relative.split("/")
    if len(relative) > MAX_PATH_CHARS or len(parts) > MAX_PATH_DEPTH:
        raise NameRefused(f"the path is longer than {MAX_PATH_CHARS} characters or {MAX_PATH_DEPTH} folders")
    for part in parts:
        if safe_name(part) != part:
            raise NameRefused("the name holds characters that are not kept (reserved, device or trailing dots)")
    return relative


def unique_names(names: Iterable[str]) -> list[str]:
    """The names in order, a later duplicate (case-insensitively, as Windows and many tools compare)
    renamed `stem (2).ext`, `stem (3).ext`..."""
    taken: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        taken.add(candidate.casefold())
        out.append(candidate)
    return out
