"""The task console: the static files in `console/`, served by the app for a browser.

`GET /console` redirects to `/console/` (so the page's relative asset URLs resolve under it) and
`GET /console/{*asset}` serves a file. Only files directly in `console/` with a name and type of the
table below are served: that listing, read on first use, is the allow-list, so no route value can
reach another file. Every answer carries a strict Content-Security-Policy (scripts, styles and API
calls from this origin only; images from it or `data:`; no frames, forms, plugins or base URL;
Trusted Types with no policy, so no HTML string can ever become DOM), `nosniff`, no referrer, and
`Cache-Control: no-cache` with an ETag (a 304 costs a round trip, never a stale mix of files).

The functions are anonymous: the files hold no data. The page asks for the function key and sends
it with each API call; with App Service authentication the session cookie goes along
(docs/console.md). Registered unless `CONSOLE_ENABLED=false` (starters/indexing.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

FOLDER = Path(__file__).resolve().parent.parent / "console"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:html|js|css)")
INDEX = "index.html"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every file the console may serve, by name: the allow-list."""
    found = {}
    for path in sorted(FOLDER.iterdir()):
        if path.is_file() and ASSET_NAME.fullmatch(path.name):
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            found[path.name] = Asset(body, f"{CONTENT_TYPES[path.suffix]}; charset=utf-8", etag)
    return found


def _answer(status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
            **headers: str) -> func.HttpResponse:
    return func.HttpResponse(
        body, status_code=status, mimetype=content_type.split(";")[0],
        headers={**SECURITY_HEADERS, "Content-Type": content_type, **headers},
    )


def _etag_matches(req: func.HttpRequest, etag: str) -> bool:
    wanted = req.headers.get("If-None-Match") or ""
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in wanted.split(","))


def serve(req: func.HttpRequest) -> func.HttpResponse:
    """The page (`/console/`), one of its files, a redirect from `/console`, or a 404."""
    name = str(req.route_params.get("asset") or "")
    if not name:
        path = urlsplit(req.url).path
        if not path.endswith("/"):  # relative Location: right under any route prefix
            return _answer(308, Location=path.rsplit("/", 1)[-1] + "/")
        name = INDEX
    asset = assets().get(name)
    if asset is None:
        return _answer(404, b"Not found")
    if _etag_matches(req, asset.etag):
        return _answer(304, b"", asset.content_type, ETag=asset.etag)
    return _answer(200, asset.body, asset.content_type, ETag=asset.etag)


def console_page(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req)


def console_asset(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req)


bp = df.Blueprint()
bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(console_page)
bp.route(route="console/{*asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)(console_asset)
