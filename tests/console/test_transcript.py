"""console/transcript.js: the live transcript resumes after a dropped connection with no duplicate and
no gap; screenshots render as images, and only real PNG/JPEG/GIF/WebP data does."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from magentic_tasks.schemas import MessageView
from magentic_tasks.store import TaskStore
from tests.console.conftest import Console, StartConsole, expect, shown_status, start_from_form
from tests.e2e.conftest import as_json
from tests.support.model_server import Faults, Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

MESSAGES = re.compile(r"/tasks/[^/]+/messages\?")


async def test_a_dropped_connection_resumes_without_a_duplicate_or_a_gap(
    start_console: StartConsole, console: Console
) -> None:
    # The model answers facts, plan and the first ledger, then holds the Coder's turn until released.
    app = await start_console(Script(rounds_before_satisfied=3), Faults(hold_after=3), MODEL_TIMEOUT_SECONDS=600)
    page = await console.open(app)
    asked: list[int] = []  # the `after` of every page the console asked for
    lost: list[int] = []
    to_lose = [0]

    async def pages(route: Any) -> None:
        asked.append(int(parse_qs(urlsplit(route.request.url).query)["after"][0]))
        response = await route.fetch()
        if to_lose[0] and (await response.json())["messages"]:
            to_lose[0] -= 1
            lost.append(asked[-1])
            await route.abort("connectionreset")  # the app answered; its answer never arrives
        else:
            await route.fulfill(response=response)

    await page.route(MESSAGES, pages)
    task_id = await start_from_form(page, "What is 6 * 7?")
    shown = page.locator(".messages .message")
    await expect(shown).to_have_count(3)  # the task, the orchestrator's ledger, its first instruction
    to_lose[0] = 2
    app.server.release_all()

    await shown_status(page, "completed")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")
    final = as_json(await app.get_result(task_id))["result"]["messages"]
    await expect(shown).to_have_count(len(final))
    positions = [await item.get_attribute("data-position") for item in await shown.all()]
    agents = [(await item.locator(".agent").inner_text()).split(" · ")[0] for item in await shown.all()]
    assert positions == [str(n) for n in range(len(final))]
    assert agents == [message["source"] for message in final]
    assert len(lost) == 2 and all(asked.count(after) >= 2 for after in lost)  # asked again from its cursor


def png(width: int, height: int) -> bytes:
    """A real PNG of `width` x `height` red pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\xff\0\0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><image href="http://evil.example/x"/></svg>'


async def test_screenshots_render_as_images_and_nothing_else_does(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=0))
    task_id = await app.create_task()
    await app.run_to_end(task_id)
    # What a WebSurfer's turn stores: its text, then each screenshot as base64 (magentic_tasks/run/_shaping.py);
    # a result read back from Durable state has an image_ref instead.
    pictures = [
        MessageView(source="WebSurfer", content="I opened the page.", type="MultiModalMessage"),
        MessageView(source="WebSurfer", content=base64.b64encode(png(3, 2)).decode(), type="base64_image"),
        MessageView(source="WebSurfer", content=base64.b64encode(GIF).decode(), type="base64_image"),
        MessageView(source="WebSurfer", content='{"sha256": "ab12", "bytes": 5120}', type="image_ref"),
        MessageView(source="WebSurfer", content=base64.b64encode(SVG).decode(), type="base64_image"),
        MessageView(source="WebSurfer", content="javascript:alert(1)", type="base64_image"),
    ]
    TaskStore(app.db_path).append_messages(task_id, 1, len(app.final_messages(task_id)), pictures)

    page = await console.open(app, path=f"/console/#/tasks/{task_id}")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")
    shots = page.locator(".messages img")
    await expect(shots).to_have_count(2)
    await expect(shots.first).to_have_attribute("alt", "Screenshot from WebSurfer")
    sources = [await shot.get_attribute("src") for shot in await shots.all()]
    assert sources == [f"data:image/png;base64,{pictures[1].content}", f"data:image/gif;base64,{pictures[2].content}"]
    assert await shots.evaluate_all("images => images.map(i => [i.complete, i.naturalWidth, i.naturalHeight])") == [
        [True, 3, 2], [True, 1, 1]]  # decoded: real pictures
    placeholders = page.locator(".messages .placeholder")
    await expect(placeholders).to_have_text([
        "Image (5,120 bytes): only its reference is kept here, not the picture.",
        "An image that is not a PNG, JPEG, GIF or WebP: not shown.",
        "An image that is not a PNG, JPEG, GIF or WebP: not shown.",
    ])
