"""The content type a download is served with: from the name, and never one a browser would run.

Only types a browser shows passively (or hands to another program) keep their own type; HTML, SVG,
XML, JavaScript and anything unknown are served as `application/octet-stream` (with
`Content-Disposition: attachment` and `X-Content-Type-Options: nosniff` beside it).
"""

from __future__ import annotations

import mimetypes

OCTET_STREAM = "application/octet-stream"
_PASSIVE = frozenset({
    "text/plain", "text/csv", "text/markdown", "text/tab-separated-values",
    "application/json", "application/pdf", "application/zip", "application/gzip", "application/x-tar",
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff",
    "audio/mpeg", "audio/wav", "audio/x-wav", "audio/ogg", "video/mp4", "video/webm",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
})
_EXTRA = {".md": "text/markdown", ".csv": "text/csv", ".tsv": "text/tab-separated-values", ".json": "application/json"}


def content_type_for(name: str) -> str:
    """The type to serve `name` as: its own when passive, else `application/octet-stream`."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    guessed = _EXTRA.get(suffix) or mimetypes.guess_type(name, strict=False)[0]
    return guessed if guessed in _PASSIVE else OCTET_STREAM
