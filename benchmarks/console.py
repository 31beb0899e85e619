"""Benchmark the console: its page weight and its time to first render against the app.

The app runs on the fake Durable host (tests/support/durable_host.py), over real HTTP on
127.0.0.1, with the function key required as in Azure, the real team against the scripted model
and the real SQLite mirror, holding `--tasks` finished tasks. Debian's Chromium (Playwright) loads
`/console/` `--runs` times, each in a fresh context (empty cache), with the key already in
sessionStorage as after a person gave it once. Time to first render: navigation start to the
first page of `GET /tasks` shown in the list (the page's `tasks-shown` performance mark). The
first load also pays the app's lazy imports of the service; it is reported apart.

Page weight: the bytes of HTML, JS and CSS the page loads (the host sends them uncompressed), and
what gzip would make of them.

    python benchmarks/console.py
    python benchmarks/console.py --runs 30 --tasks 100
    python benchmarks/console.py --screenshots docs   # also writes docs/console.png, docs/console-phone.png
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.durable_host import FakeDurableHost  # noqa: E402
from tests.support.model_server import Script, ScriptedModelServer  # noqa: E402

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
KEY = "benchmark-function-key"
KEY_NAME = "magentic-console.function-key"  # console/api.js
SCRIPT = Script(
    rounds_before_satisfied=1,
    plan="- Coder: compute 6 * 7 in Python.\n- Check the result by adding 6 seven times.\n- Report **the result**.",
    agent_reply="```python\nprint(6 * 7)\n```\n\nThe script printed `42`; adding 6 seven times gives 42 as well.",
    final_answer="**6 × 7 = 42**, computed with `print(6 * 7)` and checked by adding 6 seven times.",
)


def environment(model: ScriptedModelServer, folder: Path) -> None:
    os.environ.update({
        "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-console-bench-0123456789abcdef",
        "TASKS_DB_PATH": str(folder / "tasks.db"), "TASK_WORKSPACE_ROOT": str(folder / "workspaces"),
        "NO_PROXY": "127.0.0.1,localhost", "MIRROR_FLUSH_SECONDS": "0.2",
    })


async def create(host: FakeDurableHost, prompt: str, **extra: Any) -> str:
    response = await host.call_http(("POST", "/tasks"), body={"prompt": prompt, "use_aoai": False, **extra})
    assert response.status_code == 202, response.get_body()
    return str(json.loads(response.get_body())["task_id"])


async def finished(host: FakeDurableHost, count: int, prompt: str = "What is 6 * 7? (task {n})") -> list[str]:
    ids = [await create(host, prompt.format(n=n + 1)) for n in range(count)]
    for task_id in ids:
        await host.wait_for(task_id, timeout=120)
    await host.wait_idle(timeout=120)
    return ids


async def load(browser: Any, origin: str) -> tuple[float, dict[str, int]]:
    """One cold load: (ms from navigation start to the task list shown, bytes of each file loaded)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    await context.add_init_script(f"if (location.origin === {origin!r}) sessionStorage.setItem({KEY_NAME!r}, {KEY!r});")
    page = await context.new_page()
    files: dict[str, int] = {}
    bodies: list[Any] = []

    async def body(response: Any) -> None:
        if "/console/" in response.url:
            files[response.url.rsplit("/", 1)[-1] or "index.html"] = len(await response.body())

    page.on("response", lambda response: bodies.append(asyncio.ensure_future(body(response))))
    await page.goto(f"{origin}/console/")
    await page.wait_for_selector("#tasks[data-state=shown]", state="attached", timeout=60_000)
    shown = await page.evaluate("performance.getEntriesByName('tasks-shown')[0].startTime")
    await asyncio.gather(*bodies)
    await context.close()
    return float(shown), files


async def screenshots(browser: Any, host: FakeDurableHost, model: ScriptedModelServer, folder: Path) -> None:
    """docs/console.png (a finished task, desktop) and docs/console-phone.png (a plan to review)."""
    origin = host.base_url
    # The scripted model counts ledgers over all tasks: this one's first says "not yet", so the Coder speaks.
    model.script = replace(SCRIPT, rounds_before_satisfied=model.calls_by_kind["ledger"] + 1)
    (done,) = await finished(host, 1, "What is 6 * 7? Compute it in Python and check the result.")
    waiting = await create(host, "Compute 6 * 7, check it, and report the result.", review="plan")
    await host.wait_for(waiting, "Running", timeout=60)
    for name, size, task_id, ready in [
        ("console.png", {"width": 1280, "height": 1000}, done, ".connection[data-state=finished]"),
        ("console-phone.png", {"width": 390, "height": 844}, waiting, ".review:not([hidden])"),
    ]:
        context = await browser.new_context(viewport=size, device_scale_factor=1, locale="en-US", timezone_id="UTC")
        await context.add_init_script(f"sessionStorage.setItem({KEY_NAME!r}, {KEY!r});")
        page = await context.new_page()
        await page.goto(f"{origin}/console/#/tasks/{task_id}")
        await page.wait_for_selector(ready, timeout=60_000)
        await page.wait_for_selector("#tasks[data-state=shown]", state="attached")
        await page.screenshot(path=str(folder / name))
        await context.close()
        print(f"wrote {folder / name}")
    await host.call_http(("POST", f"/tasks/{waiting}/input"), body={"action": "reject"})  # ends its page's long poll
    await host.wait_idle(timeout=60)


async def main(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    logging.getLogger("magentic_tasks").setLevel(logging.ERROR)  # a long poll outliving the host says so

    with tempfile.TemporaryDirectory() as scratch, ScriptedModelServer(SCRIPT) as model:
        environment(model, Path(scratch))
        import function_app

        async with FakeDurableHost(function_app.app, host_json=ROOT / "host.json", timer_scale=0.01,
                                   function_keys=[KEY]) as host:
            await finished(host, args.tasks)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                times, files = [], {}
                for _ in range(args.runs):
                    shown, files = await load(browser, host.base_url)
                    times.append(shown)
                if args.screenshots:
                    await screenshots(browser, host, model, Path(args.screenshots))
                await browser.close()

    total = sum(files.values())
    packed = len(gzip.compress(b"".join((ROOT / "console" / name).read_bytes() for name in sorted(files)), 9))
    print(f"page weight: {total:,} bytes of HTML+JS+CSS in {len(files)} files (gzip -9 of them: {packed:,})")
    for name, size in sorted(files.items()):
        print(f"  {name:<16} {size:>7,}")
    rest = times[1:] or times
    print(f"time to first render (navigation start to {args.tasks} tasks shown), {args.runs} cold loads:")
    print(f"  first load after the app started: {times[0]:.0f} ms (pays the service's lazy imports)")
    print(f"  the others: median {statistics.median(rest):.0f} ms, min {min(rest):.0f} ms, max {max(rest):.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="cold page loads (default 11)")
    parser.add_argument("--tasks", type=int, default=20, help="finished tasks the app holds (default 20)")
    parser.add_argument("--screenshots", metavar="FOLDER", help="also write console.png and console-phone.png")
    asyncio.run(main(parser.parse_args()))
