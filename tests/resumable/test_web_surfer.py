"""Kill-and-resume equivalence for a team with the real WebSurfer (Debian's Chromium, pages on
127.0.0.1): a run killed right after round k's checkpoint and resumed in a fresh process reopens
the page the WebSurfer was on (scrolled where it was) and sends exactly the uninterrupted run's
model requests, and ends with its transcript; the checkpoint holds each screenshot once.

What is compared: every request's kind and body, byte for byte, except that each image in it (the
WebSurfer's screenshot, and the orchestrator's copies of earlier ones) is replaced by a marker;
the transcripts the same way, each screenshot compared by its size in pixels. A screenshot of
a reopened page may differ from the uninterrupted run's in its bytes (rendering), not in what
the run does with it. Every run has PYTHONHASHSEED=0: autogen lists the page's other interactive
elements in the order of a `set` of their ids, which string hashing shuffles from one process to
the next (an uninterrupted run is not reproducible byte for byte either). Each WebSurfer action
waits for the page's load state instead of autogen's 3 s (`run_once --quick-settle`).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from magentic_tasks.resumable._images import IMAGES
from magentic_tasks.store import TaskStore
from tests.browser.conftest import chromium_pids
from tests.resumable.run_once import KILLED, TASK_ID
from tests.resumable.test_equivalence import Ran, Scenario, answered, killed_after_round, request_log, rows, run_once
from tests.support.model_server import Script, ScriptedModelServer, click, scroll_down, visit
from tests.support.web_site import CHROMIUM, Site, chromium_missing, serve_site

_IMAGE = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")
QUICK = "--quick-settle"
ROUNDS = 4  # the WebSurfer opens the article, scrolls it, follows its link, then answers (text)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    if (missing := chromium_missing()) is not None:
        pytest.skip(missing)
    with serve_site() as found:
        yield found


@pytest.fixture(scope="module")
def marker() -> str:
    return f"--resumable-test={uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def scenario(site: Site, marker: str, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    # BROWSER_EXECUTABLE_PATH is a wrapper that marks the run's Chromium, so the test can find it.
    browser = tmp_path_factory.mktemp("browser") / "chromium"
    browser.write_text(f'#!/bin/sh\nexec {CHROMIUM} {marker} "$@"\n')
    browser.chmod(0o755)
    script = Script(rounds_before_satisfied=ROUNDS, next_speaker="WebSurfer", instruction="Read on.",
                    web_surfer=(visit(site.url("/article")), scroll_down(), click("Next")))
    env = {"BROWSER_EXECUTABLE_PATH": str(browser), "WEB_ALLOWED_HOSTS": "127.0.0.1",
           "WEB_START_PAGE": site.url("/start"), "PYTHONHASHSEED": "0"}
    return Scenario(script, ROUNDS, tuple(env.items()))


def without_images(text: str) -> str:
    return _IMAGE.sub("data:image;<screenshot>", text)


def transcript(outcome: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, type, content), each screenshot as its size in pixels."""
    return [(m["source"], m["type"], m["content"] if m["type"] != "base64_image"
             else str(Image.open(io.BytesIO(base64.b64decode(m["content"]))).size)) for m in outcome["messages"]]


def wait_gone(marker: str) -> None:
    """Wait until no process of the marked Chromium is left (the run's driver ends its browser)."""
    deadline = time.monotonic() + 30
    while chromium_pids(marker):
        assert time.monotonic() < deadline, f"a run left its Chromium behind: {chromium_pids(marker)}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def uninterrupted(
    scenario: Scenario, site: Site, marker: str, tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Ran, list[tuple[str | None, str]], list[str]]:
    with ScriptedModelServer(scenario.script) as server:
        folder = tmp_path_factory.mktemp("web")
        before = len(site.requests)
        ran = run_once(folder, server, scenario, QUICK)
        log = [(kind, without_images(body)) for kind, body in request_log(server, folder)]
    wait_gone(marker)
    return ran, log, site.paths()[before:]


@pytest.mark.parametrize("k", range(1, ROUNDS))
def test_a_web_surfer_run_killed_after_round_k_reopens_its_page_and_sends_the_same_requests(
    k: int, tmp_path: Path, scenario: Scenario, site: Site, marker: str,
    uninterrupted: tuple[Ran, list[tuple[str | None, str]], list[str]],
) -> None:
    whole, whole_log, whole_paths = uninterrupted
    assert whole.outcome is not None and whole.outcome["status"] == "completed"
    assert whole_paths == ["/start", "/article", "/next"]
    with ScriptedModelServer(scenario.script) as server:
        killed = killed_after_round(tmp_path, server, scenario, k, whole_log, QUICK)
        wait_gone(marker)  # the killed worker's browser went with it
        checkpoint = TaskStore(tmp_path / "tasks.db").latest_checkpoint(TASK_ID)  # in the task's own file
        assert checkpoint is not None
        saved = json.dumps(checkpoint.state)
        before = len(site.requests)
        resumed = run_once(tmp_path, server, scenario, QUICK)
        log = answered(server, [(kind, without_images(body)) for kind, body in request_log(server, tmp_path)])
        served = server.served.total
    wait_gone(marker)

    assert killed.returncode == KILLED and resumed.outcome is not None
    # The resumed WebSurfer went straight back to its page (the article, or the page its link led to).
    assert site.paths()[before] == ("/article" if k < 3 else "/next")
    assert "/start" not in site.paths()[before:]
    assert log == whole_log  # every answered model call once, each the same but for its screenshots' bytes
    assert sum(1 for kind, _ in log if kind == "web_surfer") == ROUNDS  # three actions and an answer
    assert transcript(resumed.outcome) == transcript(whole.outcome)
    assert resumed.outcome["prompt_tokens"] + resumed.outcome["completion_tokens"] == served
    assert rows(TaskStore(tmp_path / "tasks.db").task_file(TASK_ID), "SELECT COUNT(*) FROM checkpoints") == [(0,)]
    # The checkpoint held each of the k screenshots once (autogen's state repeats them per agent buffer).
    images = json.loads(saved)[IMAGES]
    assert len(images) == k and all(saved.count(image) == 1 for image in images)
