"""What a whole WebSurfer task costs a worker: memory (the worker and the browser's processes),
seconds to the first page, and N tasks at once on one browser.

One process, as one Functions worker: `magentic_tasks.run.execute_task` (the run activity's code,
the real SQLite mirror in a temporary folder) runs the real Magentic-One team with the real
WebSurfer on Debian's Chromium (the pool's launch route, behind its filtering proxy), against the
scripted model server (`tests/support/model_server.py`, a GPT-4o-family model with vision: every
WebSurfer call carries its screenshot) and an article of about 100 KB of text on 127.0.0.1. Each
task: facts, plan, a ledger, the WebSurfer opens the article (autogen's 3 s settle after the
action included), then scrolls it down (`--turns` - 1 times, the same), a ledger before each
turn, the WebSurfer answers from the page, a ledger, the final answer.

It prints:
- the worker's proportional set (PSS) after a task without the WebSurfer (autogen loaded: the
  baseline), and what the first WebSurfer task adds to the worker, plus the browser's processes
  (Chromium's, and playwright's node driver) that stay up for the next task;
- cold (first task: the browser starts) and warm (the next) seconds to the first page (the site
  sees the article requested) and to the task's end;
- for N tasks at once, each held (in its final-answer call) with its page open: PSS of the worker,
  Chromium and the driver, the growth per task over the idle browser, and the peak over the run
  (sampled every 0.2 s); the event loop's CPU per task (the thread every task of a worker shares);
- the screenshot's size, SQLite's bytes per task, and the checkpoint's size after the WebSurfer's turns.

Real sites (scripts, images, ads, video) cost their renderers far more than this article: see
docs/performance.md for the budget it recommends.

    python benchmarks/web_task.py
    python benchmarks/web_task.py --concurrency 1,2,4,8 --chromium /usr/bin/chromium
    python benchmarks/web_task.py --turns 10 --concurrency 1,4     # longer browsing
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from browser import driver_pids, memory_mb, tree  # noqa: E402  (benchmarks/browser.py)

ARTICLE = (
    "<html><head><title>Article</title></head><body><h1>An article</h1>"
    + "".join(f"<p>Paragraph {i}: " + "lorem ipsum dolor sit amet " * 18 + "</p>" for i in range(200))
    + "</body></html>"
).encode()


class Site:
    """The article on 127.0.0.1; when each request for it arrived."""

    def __init__(self) -> None:
        import http.server

        self.arrivals: list[float] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/article"):
                    site.arrivals.append(time.monotonic())
                body = ARTICLE if self.path.startswith("/article") else b"<html><body>start</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = int(self.server.server_address[1])


class Sampler:
    """The peak PSS of the worker, Chromium and the driver, sampled every 0.2 s on a thread."""

    def __init__(self, marker: str) -> None:
        self.marker, self.peak, self._stop = marker, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, total_pss(self.marker))


def pss(pids: list[int]) -> float:
    return memory_mb(pids)[1]


def total_pss(marker: str) -> float:
    return pss([os.getpid()]) + pss(tree(marker)) + pss(driver_pids())


def loop_cpu() -> float:
    """CPU seconds of this thread: the event loop's (the model server and the site run on others)."""
    return time.thread_time()


async def settle() -> None:
    await asyncio.sleep(1.0)  # a benchmark, not a test: let the renderers finish their start-up allocations


async def measure(chromium: str, concurrency: list[int], turns: int) -> None:
    from magentic_tasks.run import execute_task
    from magentic_tasks.schemas import TaskInput
    from magentic_tasks.settings import Settings
    from magentic_tasks.store import TaskStore
    from tests.support.model_server import RecordedRequest, Script, ScriptedModelServer, Usage, scroll_down, visit

    class LeanServer(ScriptedModelServer):
        """Forgets a request's body once answered: the bodies (every screenshot so far, in each
        vision ledger) would otherwise count as the worker's memory, and no worker keeps them."""

        def _served(self, record: RecordedRequest, usage: Usage) -> None:
            super()._served(record, usage)
            record.body = {"model": record.body.get("model")}

    site = Site()
    article = f"http://127.0.0.1:{site.port}/article"
    folder = Path(tempfile.mkdtemp(prefix="web-task-"))
    marker = f"--benchmark-web-task={uuid.uuid4().hex}"
    wrapper = folder / "chromium"  # marks the browser's command line, so its processes can be found
    wrapper.write_text(f'#!/bin/sh\nexec {chromium} {marker} "$@"\n')
    wrapper.chmod(0o755)
    steps = (visit(article), *[scroll_down()] * (turns - 1))
    script = Script(rounds_before_satisfied=turns + 1, next_speaker="WebSurfer", instruction="Read the article.",
                    web_surfer=steps, agent_reply="It is an article in Latin.", per_task=True)
    server = LeanServer(script).start()
    common: dict[str, Any] = {
        "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-benchmark-0123456789abcdef",
        "TASKS_DB_PATH": folder / "tasks.db", "TASK_WORKSPACE_ROOT": folder / "workspaces",
        "WEB_ALLOWED_HOSTS": "127.0.0.1", "WEB_START_PAGE": f"http://127.0.0.1:{site.port}/start",
    }
    web = Settings(**common, BROWSER_EXECUTABLE_PATH=str(wrapper))
    coder = LeanServer(Script(rounds_before_satisfied=1)).start()  # the task without the WebSurfer
    plain = Settings(**(common | {"OPENAI_BASE_URL": coder.base_url}), ENABLE_WEB_SURFER="false")
    store = TaskStore.from_settings(web)

    def task(name: str) -> TaskInput:
        return TaskInput(task_id=f"{name}-{uuid.uuid4().hex[:8]}", prompt=f"Summarise the article ({name}).",
                         use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))

    async def timed(settings: Settings, name: str) -> tuple[float, float | None]:
        """(seconds to the end, seconds to the first page) of one task."""
        arrived = len(site.arrivals)
        began = time.monotonic()
        outcome = await execute_task(task(name), settings, store=store)
        assert outcome.status == "completed", outcome.error
        first = site.arrivals[arrived] - began if len(site.arrivals) > arrived else None
        return time.monotonic() - began, first

    await timed(plain, "warm-up")  # autogen, the openai SDK, the document converter: the worker's baseline
    await settle()
    baseline = pss([os.getpid()])
    cold_end, cold_first = await timed(web, "cold")
    await settle()
    worker_after = pss([os.getpid()])
    browser_idle, driver = pss(tree(marker)), pss(driver_pids())
    warm = [await timed(web, f"warm-{n}") for n in range(3)]
    await settle()
    idle_total = total_pss(marker)

    rows = []
    for n in concurrency:
        server.hold("final_answer")  # each task waits there with its context and page open
        held_before = server.calls_by_kind["final_answer"]
        cpu = loop_cpu()
        with Sampler(marker) as sampler:
            runs = [asyncio.ensure_future(timed(web, f"at-once-{n}-{i}")) for i in range(n)]
            while server.calls_by_kind["final_answer"] - held_before < n:  # noqa: ASYNC110  (counted on its threads)
                await asyncio.sleep(0.05)
            await settle()
            held = (pss([os.getpid()]), pss(tree(marker)), pss(driver_pids()))
            checkpoint = _largest_checkpoint(web.tasks_db_path)
            server.release("final_answer")
            done = await asyncio.gather(*runs)
        rows.append((n, held, sampler.peak, (loop_cpu() - cpu) / n, [d[0] for d in done], checkpoint))
        await settle()

    screenshot, per_task_db = _stored_bytes(web.tasks_db_path)
    server.stop()
    coder.stop()
    print(f"Chromium {chromium}; an article of {len(ARTICLE) // 1024} KB on 127.0.0.1; {turns} WebSurfer "
          f"action(s) per task; load {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print(f"worker baseline (autogen loaded, a task without the WebSurfer): PSS {baseline:6.0f} MB")
    print(f"after the first WebSurfer task: worker PSS {worker_after:6.0f} MB (+{worker_after - baseline:.0f}), "
          f"Chromium idle PSS {browser_idle:.0f} MB, driver PSS {driver:.0f} MB")
    print(f"cold task (the browser starts): first page at {cold_first:5.2f} s, task done at {cold_end:5.2f} s")
    firsts = [first for _, first in warm if first is not None]
    print(f"warm task: first page at {statistics.median(firsts):5.2f} s (median of {len(firsts)}), "
          f"task done at {statistics.median(end for end, _ in warm):5.2f} s")
    print("tasks at once | worker | Chromium | driver | total | per task over idle | peak total | "
          "loop CPU per task | task done (median)")
    for n, (worker, chromium_pss, driver_pss), peak, cpu, ends, _ in rows:
        total = worker + chromium_pss + driver_pss
        print(f"{n:13d} | {worker:6.0f} | {chromium_pss:8.0f} | {driver_pss:6.0f} | {total:5.0f} | "
              f"{(total - idle_total) / n:18.0f} | {peak:10.0f} | {cpu:15.2f} s | {statistics.median(ends):.1f} s")
    print(f"(idle total: worker + idle Chromium + driver = {idle_total:.0f} MB; PSS in MB)")
    print(f"screenshot per WebSurfer action: {screenshot / 1024:.0f} KB (PNG, 1440x900); SQLite per task: "
          f"{per_task_db / 1024:.0f} KB; largest checkpoint after the WebSurfer's turns: "
          f"{max(r[5] for r in rows) / 1024:.0f} KB")


def _largest_checkpoint(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (size,) = conn.execute("SELECT COALESCE(MAX(LENGTH(CAST(state_json AS BLOB))), 0) FROM checkpoints").fetchone()
    return int(size)


def _stored_bytes(db: Path) -> tuple[float, float]:
    """(mean screenshot bytes, mean transcript bytes per WebSurfer task) in SQLite."""
    with sqlite3.connect(db) as conn:
        images = [len(c) * 3 / 4 for (c,) in conn.execute("SELECT content FROM messages WHERE type = 'base64_image'")]
        per_task = conn.execute(
            """SELECT AVG(bytes) FROM (SELECT SUM(LENGTH(CAST(content AS BLOB))) AS bytes FROM messages
               WHERE task_id IN (SELECT task_id FROM messages WHERE type = 'base64_image') GROUP BY task_id)"""
        ).fetchone()[0]
    return statistics.mean(images), float(per_task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default=os.environ.get("BROWSER_EXECUTABLE_PATH", "/usr/bin/chromium"))
    parser.add_argument("--concurrency", default="1,2,4,8", help="tasks at once, comma-separated")
    parser.add_argument("--turns", type=int, default=1, help="WebSurfer actions per task (a visit, then scrolls)")
    args = parser.parse_args()
    asyncio.run(measure(args.chromium, [int(n) for n in args.concurrency.split(",")], args.turns))


if __name__ == "__main__":
    main()
