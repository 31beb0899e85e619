"""The navigation policy in a real Chromium (launched, behind the filtering proxy): what the agent's
page can reach, and what it sees when it cannot."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.browser import BrowserPool
from tests.browser.conftest import MapResolver, Site

REFUSED = "This address is not allowed"


async def open_text(pool: BrowserPool, url: str) -> tuple[int | None, str]:
    async with pool.task_context() as context:
        page = await context.new_page()
        response = await page.goto(url)
        return (response.status if response else None), await page.inner_text("body")


async def test_an_allowed_page_on_127_0_0_1_is_fetched_through_the_proxy(
    make_pool: Callable[..., BrowserPool], site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    status, text = await open_text(pool, site.url("/hello"))
    assert (status, text) == (200, "Hello from /hello")
    # Chromium bypasses a proxy for loopback unless told <-loopback>: this request went through ours.
    assert ("127.0.0.1", site.port) in loopback_only
    # (Chromium's own background requests, update.googleapis.com and the like, are refused here:
    # the test resolver knows no such name.)
    assert pool.proxy is not None and not any("127.0.0.1" in reason for reason in pool.proxy.refused)


async def test_private_link_local_and_loopback_addresses_get_the_refused_page(
    make_pool: Callable[..., BrowserPool], site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    resolver = MapResolver({"inside.test": [["10.20.30.40"]], "metadata.test": [["169.254.169.254"]]})
    pool = make_pool(resolver=resolver)
    for url, reason in [
        ("http://10.0.0.1/", "10.0.0.1 is a private network address"),
        ("http://169.254.169.254/metadata/instance", "169.254.169.254 is a link-local network address"),
        ("http://inside.test/", "inside.test resolves to a private network address"),
        ("https://metadata.test/", "metadata.test resolves to a link-local network address"),
        (site.url("/secret"), "127.0.0.1 is a loopback network address"),
        (site.url("/secret", host="localhost"), "localhost resolves to a loopback network address"),
        ("file:///etc/hostname", "file: addresses are not opened by this browser"),
    ]:
        status, text = await open_text(pool, url)
        assert status in (403, None) and REFUSED in text and reason in text, (url, text)
    assert site.requests == [] and loopback_only == []


async def test_a_redirect_from_an_allowed_host_to_loopback_is_refused_by_the_proxy(
    make_pool: Callable[..., BrowserPool], site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    pool = make_pool(allowed=("app.test",), resolver=MapResolver({"app.test": [["127.0.0.1"]]}))
    start = site.url(f"/redirect?to={site.url('/secret')}", host="app.test")
    status, text = await open_text(pool, start)
    assert status == 403 and "127.0.0.1 is a loopback network address" in text
    assert site.paths() == ["/redirect"]  # the redirect's target was never requested
    assert pool.proxy is not None and "127.0.0.1 is a loopback network address" in pool.proxy.refused


async def test_dns_rebinding_is_refused_the_proxy_connects_only_where_it_checked(
    make_pool: Callable[..., BrowserPool], site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    # The page's check sees a public address; the next resolution, the proxy's, gets loopback.
    resolver = MapResolver({"rebind.test": [["93.184.215.14"], ["127.0.0.1"]]})
    pool = make_pool(resolver=resolver)
    status, text = await open_text(pool, site.url("/secret", host="rebind.test"))
    assert status == 403 and "rebind.test resolves to a loopback network address" in text
    assert site.requests == [] and loopback_only == []
    assert [name for name in resolver.calls if name == "rebind.test"] == ["rebind.test", "rebind.test"]


async def test_subresources_and_frames_on_refused_hosts_are_stopped(
    make_pool: Callable[..., BrowserPool], site: Site, loopback_only: list[tuple[str, int]]
) -> None:
    resolver = MapResolver({"app.test": [["127.0.0.1"]], "ads.app.test": [["127.0.0.1"]]})
    pool = make_pool(allowed=("*.app.test", "app.test"), blocked=("ads.app.test",), resolver=resolver)
    body = (
        f'<p>main</p><img id="pixel" src="{site.url("/pixel.png", host="ads.app.test")}">'
        f'<iframe id="ads" src="{site.url("/frame", host="ads.app.test")}"></iframe>'
        '<iframe id="inside" src="http://10.0.0.1/"></iframe>'
        f'<iframe id="ok" src="{site.url("/fine", host="app.test")}"></iframe>'
    )
    refused_frames: dict[str, Any] = {}
    async with pool.task_context() as context:
        page = await context.new_page()
        await page.goto(site.url(f"/page?body={__import__('urllib.parse').parse.quote(body)}", host="app.test"))
        for frame_id in ("ads", "inside", "ok"):
            frame = await (await page.query_selector(f"#{frame_id}")).content_frame()  # type: ignore[union-attr]
            assert frame is not None
            await frame.wait_for_load_state()
            refused_frames[frame_id] = await frame.inner_text("body")
        loaded = await page.eval_on_selector("#pixel", "img => img.complete && img.naturalWidth > 0")
    assert "ads.app.test is on this server's list of blocked hosts" in refused_frames["ads"]
    assert "10.0.0.1 is a private network address" in refused_frames["inside"]
    assert refused_frames["ok"] == "Hello from /fine"
    assert loaded is False
    assert "/pixel.png" not in site.paths() and "/frame" not in site.paths()
    assert "/fine" in site.paths()


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[int]:
    """An https server on 127.0.0.1 with a self-signed certificate (openssl); its port."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing: it makes the test's certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=secure.test"],
        check=True, capture_output=True,
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<html><body><p>Hello over TLS</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_https_goes_through_a_tunnel_with_tls_end_to_end(
    make_pool: Callable[..., BrowserPool], tls_site: int, loopback_only: list[tuple[str, int]]
) -> None:
    pool = make_pool(allowed=("secure.test",), resolver=MapResolver({"secure.test": [["127.0.0.1"]]}))
    async with pool.task_context(ignore_https_errors=True) as context:  # the test's certificate is self-signed
        page = await context.new_page()
        response = await page.goto(f"https://secure.test:{tls_site}/")
        assert response is not None and response.status == 200
        assert await page.inner_text("body") == "Hello over TLS"
        assert (await response.security_details() or {}).get("subjectName") == "secure.test"  # the server's own
    assert ("127.0.0.1", tls_site) in loopback_only
