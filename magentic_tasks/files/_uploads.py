"""Attachments as a request gives them, checked against the limits and decoded: nothing is stored here.

Limits (settings): `FILES_MAX_COUNT` files (default 20), `FILES_MAX_BYTES` each (default 25 MiB; a
URL's cap is enforced while it streams), and `FILES_INLINE_MAX_BYTES` of inline content in one
request, all files together, decoded (default 8 MiB: the body is read whole into memory, and base64
makes it a third larger).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..schemas import FileUpload
from ..webhooks import CallbackPolicy, CallbackRefused
from ._content_types import content_type_for
from ._names import NameRefused, safe_name, unique_names

# (loc within the body, message, error type): the service makes FastAPI's entries of them.
Problem = tuple[tuple[str | int, ...], str, str]


@dataclass(frozen=True)
class FileLimits:
    max_count: int
    max_bytes: int
    inline_max_bytes: int


@dataclass(frozen=True)
class Attachment:
    """One checked attachment: its safe (unique) name and its bytes, or its URL."""

    name: str
    content_type: str
    content: bytes | None = None
    url: str | None = None

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None


def check_uploads(
    uploads: Sequence[FileUpload], limits: FileLimits, policy: CallbackPolicy
) -> tuple[list[Attachment], list[Problem]]:
    """The attachments, or every problem found (never quoting a name, content or URL)."""
    problems: list[Problem] = []
    if len(uploads) > limits.max_count:
        problems.append((("files",), f"at most {limits.max_count} files may be attached (FILES_MAX_COUNT)",
                         "too_many_files"))
        return [], problems
    names: list[str] = []
    contents: list[bytes | None] = []
    inline_total = 0
    for index, upload in enumerate(uploads):
        try:
            names.append(safe_name(upload.name))
        except NameRefused as refused:
            problems.append((("files", index, "name"), str(refused), "file_name_refused"))
            names.append("")
        content = None
        if upload.content is not None:
            content, problem = _decoded(upload.content, limits, inline_total, index)
            if problem is not None:
                problems.append(problem)
            inline_total += len(content or b"") if problem is None else 0
        elif upload.url is not None:
            try:
                policy.check_url(upload.url)
            except CallbackRefused as refused:
                problems.append((("files", index, "url"), str(refused), "url_refused"))
        contents.append(content)
    if problems:
        return [], problems
    return [
        Attachment(name=name, content_type=content_type_for(name), content=content, url=upload.url)
        for name, content, upload in zip(unique_names(names), contents, uploads, strict=True)
    ], []


def _decoded(text: str, limits: FileLimits, inline_so_far: int, index: int) -> tuple[bytes | None, Problem | None]:
    loc = ("files", index, "content")
    # Checked on the encoded length first: an oversized file is refused without decoding it.
    if len(text) // 4 * 3 - 2 > min(limits.max_bytes, limits.inline_max_bytes):
        cap = min(limits.max_bytes, limits.inline_max_bytes)
        return None, (loc, f"inline content may be at most {cap} bytes a file (FILES_MAX_BYTES, "
                           "FILES_INLINE_MAX_BYTES); attach larger files by url", "file_too_large")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:  # line breaks (MIME encoders wrap at 76 characters) cost a copy; only then is it made
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            return None, (loc, "content must be base64 (standard alphabet, padded)", "base64_invalid")
    if len(data) > limits.max_bytes:
        return None, (loc, f"a file may be at most {limits.max_bytes} bytes (FILES_MAX_BYTES)", "file_too_large")
    if inline_so_far + len(data) > limits.inline_max_bytes:
        return None, (loc, f"inline content of one request may be at most {limits.inline_max_bytes} bytes in all "
                           "(FILES_INLINE_MAX_BYTES); attach larger files by url", "files_too_large")
    return data, None
