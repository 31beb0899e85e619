"""A test web site on 127.0.0.1, Debian's Chromium, and the processes a browser leaves behind.

`Site` serves small pages (a handler per path, below) and records every request; `hold(path)`
keeps requests to a path unanswered until `release(path)`, so a test can catch the browser in the
middle of loading a page. Nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib.util
import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
# A test browser's last line of defence: anything but loopback goes to a dead proxy.
SAFETY_ARGS = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
TEST_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", *SAFETY_ARGS,
]
ARTICLE = "".join(f"<p>Paragraph {i}: pelicans glide over the bay in long, quiet lines.</p>" for i in range(60))


def chromium_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -r requirements.txt)"
    if shutil.which(CHROMIUM) is None:
        return (
            f"chromium is missing ({CHROMIUM}): scripts/test.sh installs Debian's chromium when run as root "
            "(apt-get install chromium); or set TEST_CHROMIUM to a Chromium executable"
        )
    return None


@dataclass
class Site:
    """The site's port, the requests it saw as (path, Host), and the paths held unanswered."""

    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    _held: dict[str, threading.Event] = field(default_factory=dict)
    _arrived: dict[str, int] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _visitors: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path.split("?")[0] for path, _ in self.requests]

    def hold(self, path: str) -> None:
        """Leave requests to `path` unanswered until `release(path)`."""
        with self._lock:
            self._held[path] = threading.Event()

    def release(self, path: str | None = None) -> None:
        """Answer the held requests to `path` (every held path when None), and later ones at once."""
        with self._lock:
            held = [self._held.pop(path)] if path in self._held else [] if path else list(self._held.values())
            if path is None:
                self._held.clear()
        for event in held:
            event.set()

    def arrived(self, path: str) -> int:
        """Requests to `path` received so far (held or answered)."""
        with self._lock:
            return self._arrived.get(path, 0)

    def wait_arrived(self, path: str, count: int = 1, timeout: float = 60.0) -> None:
        """Block until `count` requests to `path` have arrived (AssertionError after `timeout`)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._arrived.get(path, 0) >= count, timeout):
                raise AssertionError(f"{path} was requested {self._arrived.get(path, 0)} times, not {count}")

    def _arrive(self, path: str) -> threading.Event | None:
        with self._lock:
            self._arrived[path] = self._arrived.get(path, 0) + 1
            self._lock.notify_all()
            return self._held.get(path)

    def next_visitor(self) -> str:
        with self._lock:
            return f"visitor-{next(self._visitors)}"


def _page(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                 content_type: str = "text/html") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append((self.path, self.headers.get("Host", "")))
            parts = urlsplit(self.path)
            held = site._arrive(parts.path)
            if held is not None:
                held.wait(60)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path == "/redirect":
                self.send(302, b"", headers={"Location": query["to"]})
            elif parts.path == "/set-cookie":
                value = query.get("value") or site.next_visitor()
                self.send(200, _page("Cookie set", f"<p>set {value}</p>"),
                          headers={"Set-Cookie": f"task={value}; Path=/"})
            elif parts.path == "/show-cookie":
                self.send(200, _page("Cookie", f"<p>cookie: [{self.headers.get('Cookie', '')}]</p>"))
            elif parts.path == "/download":
                self.download(int(query["size"]), "length" in query)
            elif parts.path == "/article":
                links = '<a href="/next">Next</a><form action="/search"><input name="q" aria-label="Search the site">'
                self.send(200, _page("Pelicans", f"<h1>Pelicans</h1>{ARTICLE}{links}</form>"))
            elif parts.path == "/search":
                results = f"<p>Results for {query.get('q', '')}: none.</p><a href=\"/next\">Next</a>"
                self.send(200, _page("Search", results))
            elif parts.path == "/pixel.png":
                self.send(200, b"\x89PNG\r\n\x1a\n", content_type="image/png")
            elif parts.path == "/images":  # each `src` is a full URL
                images = "".join(f'<img src="{src}">' for src in parse_qs(parts.query).get("src", []))
                self.send(200, _page("Images", f"<p>A page with images.</p>{images}"))
            else:
                body = query.get("body", f"<p>Hello from {parts.path}</p>")
                self.send(200, _page("Test page", body))

        def download(self, size: int, announce: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="data.bin"')
            if announce:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for start in range(0, size, len(chunk)):
                    self.wfile.write(chunk[: size - start])
            except OSError:
                pass  # the browser stopped the download
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def serve_site() -> Iterator[Site]:
    """A `Site` on a free port of 127.0.0.1; held requests are released when it stops."""
    found = Site()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.release()
        server.shutdown()
        server.server_close()


async def _line_matching(stream: asyncio.StreamReader | None, pattern: str) -> re.Match[str]:
    assert stream is not None
    while line := (await stream.readline()).decode():
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"the process ended without printing {pattern!r}")


@contextlib.asynccontextmanager
async def cdp_chromium(chromium: str, profile: Path) -> AsyncIterator[str]:
    """A headless Chromium started with --remote-debugging-port=0; its DevTools URL (http://...)."""
    process = await asyncio.create_subprocess_exec(
        chromium, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
        *TEST_ARGS, "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    found = await _line_matching(process.stderr, r"DevTools listening on ws://127\.0\.0\.1:(\d+)/")
    assert process.stderr is not None
    drain = asyncio.create_task(process.stderr.read())  # keep its pipe from filling up
    try:
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the wrapper script's Chromium and its helpers
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        drain.cancel()


def descendants(root: int) -> list[int]:
    """The processes below `root` (children, their children, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def is_chromium(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "chrom" in Path(os.readlink(f"/proc/{pid}/exe")).name
    return False


def in_session(session: int) -> list[int]:
    """The live processes of a session (`start_new_session=True` makes a subprocess one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == session and fields[0] != "Z":
                    found.append(int(entry.name))
    return found
