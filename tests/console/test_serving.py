"""starters/console.py over real HTTP: the page and its files with their types and security headers,
anonymous while the API needs a key, the allow-list (no other file, however the path is spelt),
and revalidation by ETag."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from starters.console import CONTENT_SECURITY_POLICY
from tests.console.conftest import KEY, StartConsole
from tests.e2e.conftest import Harness

FOLDER = Path(__file__).resolve().parents[2] / "console"
SECURITY = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@pytest.fixture
async def app(start_console: StartConsole) -> Harness:
    return await start_console()


async def fetch(app: Harness, path: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    """GET `path` exactly as written (no client-side normalisation of dots or escapes)."""
    async with aiohttp.ClientSession() as session, session.get(
        URL(app.host.base_url + path, encoded=True), headers=headers, allow_redirects=False
    ) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


def referenced_files() -> set[str]:
    """The files index.html names and the modules import, transitively."""
    found, todo = {"index.html"}, ["index.html"]
    while todo:
        text = (FOLDER / todo.pop()).read_text()
        for name in re.findall(r'(?:src|href)="([a-z][\w-]*\.(?:js|css))"|from "\./([\w-]+\.js)"', text):
            name = next(part for part in name if part)
            if name not in found:
                found.add(name)
                todo.append(name)
    return found


def test_every_file_of_the_console_is_used_and_none_is_missing() -> None:
    assert referenced_files() == {path.name for path in FOLDER.iterdir()}


async def test_the_page_and_its_files_are_served_anonymously_with_their_types_and_a_strict_policy(
    app: Harness,
) -> None:
    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8"}
    for name in sorted(referenced_files()):
        status, headers, body = await fetch(app, f"/console/{name}")
        assert status == 200, name
        assert headers["Content-Type"] == types[Path(name).suffix]
        assert {k: headers[k] for k in SECURITY} == SECURITY
        assert body == (FOLDER / name).read_bytes()
    assert (await fetch(app, "/tasks"))[0] == 401  # the API behind it needs the key
    assert (await fetch(app, "/tasks", **{"x-functions-key": KEY}))[0] == 200


def test_the_policy_allows_this_origin_only_and_no_html_sink() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives == {
        "default-src": "'none'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
        "connect-src": "'self'", "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
        "require-trusted-types-for": "'script'", "trusted-types": "'none'",
    }


async def test_the_page_is_under_a_slash_so_its_relative_addresses_resolve_below_it(app: Harness) -> None:
    status, headers, _ = await fetch(app, "/console")
    assert (status, headers["Location"]) == (308, "console/")
    index = await fetch(app, "/console/")
    assert index[0] == 200 and index[2] == (FOLDER / "index.html").read_bytes()


@pytest.mark.parametrize("path", [
    "/console/../host.json", "/console/%2e%2e/host.json", "/console/..%2fhost.json", "/console/%2e%2e%2fhost.json",
    "/console/..%5chost.json", "/console/sub/console.js", "/console/Console.js", "/console/console.js%00",
    "/console/.gitignore", "/console/console.js.map", "/console/%2fetc%2fpasswd", "/console/index",
])
async def test_nothing_but_the_listed_files_is_served_however_the_path_is_spelt(app: Harness, path: str) -> None:
    status, headers, body = await fetch(app, path)
    assert status == 404 or (status == 308 and headers["Location"] == "console/"), (status, body[:80])
    assert b"extensionBundle" not in body and b"root:" not in body
    if status == 404 and path.startswith("/console/"):
        assert {k: headers[k] for k in SECURITY} == SECURITY


@pytest.mark.parametrize("asset", ["../host.json", "../../etc/passwd", "/etc/passwd", "..", ".", "console/console.js"])
async def test_a_route_value_the_host_decoded_reaches_no_other_file(app: Harness, asset: str) -> None:
    response = await app.host.call_http("console_asset", route_params={"asset": asset})
    assert response.status_code == 404


async def test_a_file_the_browser_holds_is_revalidated_by_its_etag(app: Harness) -> None:
    _, first, body = await fetch(app, "/console/console.js")
    status, headers, again = await fetch(app, "/console/console.js", **{"If-None-Match": first["ETag"]})
    assert (status, headers["ETag"], again) == (304, first["ETag"], b"")
    changed = await fetch(app, "/console/console.js", **{"If-None-Match": '"something-else"'})
    assert (changed[0], changed[2]) == (200, body)
