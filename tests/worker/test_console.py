"""The console's static files through the real worker: the route value of the catch-all, the bytes,
the content type and the security headers come back as the host would send them."""

from __future__ import annotations

from pathlib import Path

from starters.console import CONTENT_SECURITY_POLICY
from tests.e2e.conftest import Harness

FOLDER = Path(__file__).resolve().parents[2] / "console"


async def test_the_console_is_served_through_the_worker(worker_app: Harness) -> None:
    page = await worker_app.host.call_http(("GET", "/console/"))
    script = await worker_app.host.call_http(("GET", "/console/transcript.js"))
    moved = await worker_app.host.call_http(("GET", "/console"))
    other = await worker_app.host.call_http("console_asset", route_params={"asset": "../host.json"})

    assert (page.status_code, page.get_body()) == (200, (FOLDER / "index.html").read_bytes())
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["ETag"]
    assert (script.status_code, script.get_body()) == (200, (FOLDER / "transcript.js").read_bytes())
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert (moved.status_code, moved.headers["Location"]) == (308, "console/")
    assert other.status_code == 404
