"""A task with the real WebSurfer through the Functions Python worker: the worker indexes the app
with a browser configured and its run activity browses a page on 127.0.0.1 with Debian's Chromium,
autogen's own 3 s settle after the action included. Skipped, with the reason, without Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RUN_ACTIVITY, StartApp
from tests.support.model_server import Script, visit
from tests.support.web_site import CHROMIUM, Site, chromium_missing, serve_site
from tests.worker.conftest import worker_of

WEB = "WebSurfer"


@pytest.fixture
def site() -> Iterator[Site]:
    if (missing := chromium_missing()) is not None:
        pytest.skip(missing)
    with serve_site() as found:
        yield found


@pytest.mark.worker_app(ENABLE_WEB_SURFER="auto", BROWSER_EXECUTABLE_PATH=CHROMIUM, WEB_ALLOWED_HOSTS="127.0.0.1",
                        WEB_START_PAGE="about:blank")
async def test_a_web_surfer_task_runs_in_the_worker(start_worker_app: StartApp, site: Site) -> None:
    script = Script(rounds_before_satisfied=1, next_speaker=WEB, instruction="Read the article.",
                    web_surfer=(visit(site.url("/article")),))
    app = await start_worker_app(script)
    task_id = await app.create_task(prompt="What do pelicans do?")

    result = await app.run_to_end(task_id)

    assert result["status"] == "completed", result["error"]
    assert "/article" in site.paths()
    messages = app.final_messages(task_id)
    assert messages == result["result"]["messages"]
    (text,) = [m["content"] for m in messages if m["source"] == WEB and m["type"] == "MultiModalMessage"]
    assert "Paragraph 0: pelicans glide over the bay" in text
    (image,) = [base64.b64decode(m["content"]) for m in messages if m["type"] == "base64_image"]
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    refs = [json.loads(m["content"]) for m in app.durable_outcome(task_id)["messages"] if m["type"] == "image_ref"]
    assert refs == [{"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}]
    assert result["prompt_tokens"] + result["completion_tokens"] == app.server.served.total
    assert [c.name for c in app.host.calls_of(instance_id=task_id)] == [RUN_ACTIVITY]
    assert worker_of(app).errors_logged() == []
