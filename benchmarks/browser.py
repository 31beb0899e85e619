"""What the WebSurfer's browser costs: time to the first page, and memory of the browser and of
each task context, on the pool (`magentic_tasks.browser.BrowserPool`, launch route, behind its
filtering proxy) with pages served on 127.0.0.1.

It prints:
- cold start: a new pool to the first page's text (Playwright's driver, Chromium, a context, the
  page), split into the browser's start and the first task's context and page;
- warm task start: a new task context, a page, the page's text, on the running browser (median);
- memory with one context and its page open: resident set (RSS) and proportional set (PSS, shared
  pages divided among the processes that share them: the honest sum) of Chromium's processes, and
  RSS of playwright's node driver;
- per-context overhead: the growth of Chromium's PSS and RSS per extra context with its page open.

The page is a plain article of about 100 KB of text; real sites (scripts, images, ads, video) cost
their renderer far more, so treat the per-context figure as a floor.

    python benchmarks/browser.py
    python benchmarks/browser.py --contexts 10 --chromium /usr/bin/chromium
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ARTICLE = (
    "<html><head><title>Article</title></head><body><h1>An article</h1>"
    + "".join(f"<p>Paragraph {i}: " + "lorem ipsum dolor sit amet " * 18 + "</p>" for i in range(200))
    + "</body></html>"
).encode()


def serve() -> int:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(ARTICLE)))
            self.end_headers()
            self.wfile.write(ARTICLE)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_address[1])


def processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                found[int(entry.name)] = (parent, (entry / "cmdline").read_bytes())
            except (OSError, IndexError, ValueError):
                continue
    return found


def tree(marker: str) -> list[int]:
    """The browser process (its command line holds `marker`) and all its descendants."""
    table = processes()
    members = {pid for pid, (_, cmdline) in table.items() if marker.encode() in cmdline}
    grew = True
    while grew:
        more = {pid for pid, (parent, _) in table.items() if parent in members} - members
        members |= more
        grew = bool(more)
    return sorted(members)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) of these processes, summed, in MB (from /proc/PID/smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def driver_pids() -> list[int]:
    me = os.getpid()
    return [pid for pid, (parent, cmdline) in processes().items() if parent == me and b"playwright" in cmdline]


async def settle() -> None:
    await asyncio.sleep(1.0)  # a benchmark, not a test: let the renderers finish their start-up allocations


async def measure(chromium: str, contexts: int, runs: int) -> None:
    from magentic_tasks.browser import BrowserPool, HostRules, LaunchRoute, NavigationPolicy

    port = serve()
    url = f"http://127.0.0.1:{port}/article"
    marker = f"--benchmark-pool={uuid.uuid4().hex}"
    pool = BrowserPool(LaunchRoute(Path(chromium), (marker,)), NavigationPolicy(HostRules(allowed=("127.0.0.1",))))
    try:
        began = time.perf_counter()
        await pool.browser()
        launched = time.perf_counter()
        async with pool.task_context() as context:
            page = await context.new_page()
            await page.goto(url)
            assert "Paragraph 199" in await page.inner_text("body")
            first_page = time.perf_counter()
            await settle()
            one_processes = tree(marker)
            one_rss, one_pss = memory_mb(one_processes)
            driver_rss = sum(memory_mb([pid])[0] for pid in driver_pids())
        await settle()
        idle_rss, idle_pss = memory_mb(tree(marker))

        warm = []
        for _ in range(runs):
            started = time.perf_counter()
            async with pool.task_context() as context:
                page = await context.new_page()
                await page.goto(url)
                await page.inner_text("body")
                warm.append(time.perf_counter() - started)

        async with asyncio.TaskGroup() as group:
            opened = asyncio.Event()
            ready: list[bool] = []

            async def task() -> None:
                async with pool.task_context() as context:
                    await (await context.new_page()).goto(url)
                    ready.append(True)
                    if len(ready) == contexts:
                        opened.set()
                    await done.wait()

            done = asyncio.Event()
            for _ in range(contexts):
                group.create_task(task())
            await opened.wait()
            await settle()
            many_rss, many_pss = memory_mb(tree(marker))
            done.set()
    finally:
        await pool.close()

    print(f"Chromium {chromium}, {contexts} contexts for the per-context figure, {runs} warm task starts")
    print(f"cold start, new pool to first page text:  {first_page - began:6.2f} s "
          f"(browser {launched - began:.2f} s, context + page {first_page - launched:.2f} s)")
    print(f"warm task start, context + page + text:   {statistics.median(warm):6.3f} s median "
          f"(min {min(warm):.3f}, max {max(warm):.3f})")
    print(f"browser with one context and its page:    RSS {one_rss:6.0f} MB, PSS {one_pss:6.0f} MB "
          f"({len(one_processes)} Chromium processes)")
    print(f"browser idle, no context:                 RSS {idle_rss:6.0f} MB, PSS {idle_pss:6.0f} MB")
    print(f"playwright's node driver:                 RSS {driver_rss:6.0f} MB")
    per_pss = (many_pss - one_pss) / max(contexts - 1, 1)
    per_rss = (many_rss - one_rss) / max(contexts - 1, 1)
    print(f"per extra context with its page:          PSS {per_pss:6.1f} MB, RSS {per_rss:6.1f} MB "
          f"({contexts} open: PSS {many_pss:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default=os.environ.get("BROWSER_EXECUTABLE_PATH", "/usr/bin/chromium"))
    parser.add_argument("--contexts", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.chromium, args.contexts, args.runs))


if __name__ == "__main__":
    main()
