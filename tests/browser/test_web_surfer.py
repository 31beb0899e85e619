"""autogen's real MultimodalWebSurfer on a pooled context, driven by a replayed model: the page's
text reaches its reply, a refused address reaches it as the refused page, closing it leaves the
shared browser alone, a resumed agent reopens the page it was on, a cancelled turn ends at once, and
a screenshot is encoded once."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from autogen_agentchat.base import Response
from autogen_agentchat.messages import MultiModalMessage, TextMessage
from autogen_core import CancellationToken, FunctionCall, Image
from autogen_core.models import CreateResult, ModelFamily, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient
from PIL import Image as PILImage

from magentic_tasks.browser import BrowserGone, BrowserPool, build_web_surfer
from magentic_tasks.resumable import WebSurferState
from tests.browser.conftest import Site

TEXT_MODEL = ModelInfo(
    vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
)


def visit(url: str) -> CreateResult:
    call = FunctionCall(id="call-1", name="visit_url", arguments=json.dumps({"url": url, "reasoning": "to read it"}))
    return CreateResult(finish_reason="function_calls", content=[call], usage=RequestUsage(10, 5), cached=False)


async def turn(agent: WebSurferState, text: str) -> str:
    """One turn, its stream read to the end as the team reads it (autogen 0.7.5's `on_messages`
    leaves the stream early, and the agent's `except BaseException` then records a bogus error)."""
    replies = [
        item.chat_message
        async for item in agent.on_messages_stream([TextMessage(content=text, source="user")], CancellationToken())
        if isinstance(item, Response)
    ]
    assert len(replies) == 1
    return reply_text(replies[0])


def reply_text(message: object) -> str:
    if isinstance(message, MultiModalMessage):
        return "\n".join(part for part in message.content if isinstance(part, str))
    assert isinstance(message, TextMessage)
    return message.content


async def test_the_page_text_reaches_the_agent_and_a_resumed_agent_reopens_the_page(
    make_pool: Callable[..., BrowserPool], site: Site, tmp_path: Path
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    page_url = site.url("/page?body=" + quote("<h1>Facts</h1><p>The secret word is pelican.</p>"))
    model = ReplayChatCompletionClient([visit(page_url), visit("http://10.0.0.1/admin")], model_info=TEXT_MODEL)
    async with pool.task_context() as context:
        surfer = build_web_surfer(
            "WebSurfer", model, pool=pool, context=context, downloads_folder=tmp_path, start_page=site.url("/start")
        )
        assert isinstance(surfer, WebSurferState)
        assert "The secret word is pelican." in await turn(surfer, "Read the page")
        refused = await turn(surfer, "Open the admin")
        assert "This address is not allowed" in refused and "10.0.0.1 is a private network address" in refused
        await surfer._page.goto(page_url)  # type: ignore[union-attr]  # back on the readable page
        state = await surfer.save_state()
        await surfer.close()
        assert context.pages == [] and context.browser is not None and context.browser.is_connected()
        await (await context.new_page()).goto(site.url("/still-open"))  # the task's context outlives the agent
    assert state["url"] == page_url and len(state["chat_history"]) == 4
    json.dumps(state)  # a checkpoint is JSON

    answer = CreateResult(finish_reason="stop", content="Pelican.", usage=RequestUsage(10, 1), cached=False)
    async with pool.task_context() as context:  # a later slice of the run: a new context
        resumed = build_web_surfer(
            "WebSurfer", ReplayChatCompletionClient([answer], model_info=TEXT_MODEL), pool=pool, context=context,
            downloads_folder=tmp_path, start_page=site.url("/start"),
        )
        await resumed.load_state(state)
        assert await turn(resumed, "What was it?") == "Pelican."
        assert resumed._page is not None and resumed._page.url == page_url
        assert "pelican" in await resumed._page.inner_text("body")
        assert len(resumed._chat_history) == 6
    assert site.paths().count("/start") == 1  # the resumed agent went straight to the saved page
    assert pool.starts == 1


async def test_the_agent_downloads_into_the_workspace_up_to_the_cap(
    make_pool: Callable[..., BrowserPool], site: Site, tmp_path: Path
) -> None:
    pool = make_pool(allowed=("127.0.0.1",), download_max_bytes=1024 * 1024)
    small, large = site.url("/download?size=1000&length=1"), site.url("/download?size=50000000&length=1")
    model = ReplayChatCompletionClient([visit(small), visit(large)], model_info=TEXT_MODEL)
    async with pool.task_context() as context:
        surfer = build_web_surfer(
            "WebSurfer", model, pool=pool, context=context, downloads_folder=tmp_path, start_page=site.url("/start")
        )
        assert "Successfully downloaded 'data.bin'" in await turn(surfer, "Get the small file")
        assert (tmp_path / "data.bin").read_bytes() == b"x" * 1000
        (tmp_path / "data.bin").unlink()
        refused = await turn(surfer, "Get the large file")
        assert "data.bin was stopped: it is larger than this server's limit of 1.0 MiB" in refused
    assert os.listdir(tmp_path) == []


async def test_a_turn_on_a_browser_that_went_away_says_so(
    make_pool: Callable[..., BrowserPool], site: Site, tmp_path: Path
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    model = ReplayChatCompletionClient([visit(site.url("/one")), visit(site.url("/two"))], model_info=TEXT_MODEL)
    with pytest.raises(BrowserGone):
        async with pool.task_context() as context:
            surfer = build_web_surfer(
                "WebSurfer", model, pool=pool, context=context, downloads_folder=tmp_path, start_page=site.url("/")
            )
            assert "Hello from /one" in await turn(surfer, "Open one")
            await (await pool.browser()).close()  # as if it crashed: the pool's browser is gone
            assert "BrowserGone: the browser went away during this task" in await turn(surfer, "Open two")
            raise RuntimeError("the run ends")


async def test_a_cancelled_turn_ends_without_waiting_for_its_page(
    make_pool: Callable[..., BrowserPool], site: Site, tmp_path: Path
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    site.hold("/slow")  # the page never loads while the turn runs
    model = ReplayChatCompletionClient([visit(site.url("/slow"))], model_info=TEXT_MODEL)
    async with pool.task_context() as context:
        surfer = build_web_surfer(
            "WebSurfer", model, pool=pool, context=context, downloads_folder=tmp_path, start_page=site.url("/")
        )
        token = CancellationToken()
        messages = [TextMessage(content="Open the slow page", source="user")]
        turn = asyncio.ensure_future(collect(surfer.on_messages_stream(messages, token)))
        await asyncio.to_thread(site.wait_arrived, "/slow")  # the WebSurfer is loading it
        token.cancel()
        (reply,) = [item.chat_message for item in await turn if isinstance(item, Response)]
        assert site.arrived("/slow") == 1 and "/slow" in site._held  # still loading: the turn did not wait
        # autogen's agent reports any exception as its reply; the page's own 60 s timeout never came.
        assert "CancelledError" in reply_text(reply) and "Timeout" not in reply_text(reply)


async def collect(stream: AsyncIterator[object]) -> list[object]:
    return [item async for item in stream]


async def test_a_screenshot_is_encoded_once_however_often_it_is_serialized(
    make_pool: Callable[..., BrowserPool], site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = make_pool(allowed=("127.0.0.1",))
    model = ReplayChatCompletionClient([visit(site.url("/page"))], model_info=TEXT_MODEL)
    async with pool.task_context() as context:
        surfer = build_web_surfer(
            "WebSurfer", model, pool=pool, context=context, downloads_folder=tmp_path, start_page=site.url("/")
        )
        stream = surfer.on_messages_stream([TextMessage(content="Open the page", source="user")], CancellationToken())
        (reply,) = [item.chat_message for item in await collect(stream) if isinstance(item, Response)]
    assert isinstance(reply, MultiModalMessage)
    (screenshot,) = [part for part in reply.content if isinstance(part, Image)]
    saved: list[str | None] = []
    save = PILImage.Image.save

    def counting(image: PILImage.Image, fp: Any, format: str | None = None, **params: Any) -> None:
        saved.append(format)
        save(image, fp, format, **params)

    monkeypatch.setattr(PILImage.Image, "save", counting)
    # As autogen uses it: a delivery's trace attributes, a checkpoint, a model request, the transcript.
    encoded = screenshot.to_base64()
    dumps = [reply.model_dump_json(), json.dumps(reply.dump()), screenshot.to_openai_format()["image_url"]["url"]]
    assert encoded in dumps[0] and encoded in dumps[1] and dumps[2].endswith(encoded)
    assert saved == []  # encoded when it was made, never again
    assert screenshot.image.format == "PNG" and screenshot.image.size == (1440, 900)  # kept as the PNG, lazily
    assert Image(screenshot.image).to_base64() == encoded  # what autogen's own Image would have made of it

