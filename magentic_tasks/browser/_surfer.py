"""autogen's MultimodalWebSurfer on a task context of the pool.

The stock agent starts its own Playwright driver and browser unless it is handed both, and its
`close()` closes the context and stops the driver it was handed. `PooledWebSurfer` is handed the
pool's: its `close()` closes only its own page (the task context closes with the task's block and
the browser stays for the next task). Its downloads go through the context's `DownloadLimit`, and a
navigation that turns into a download (which playwright 1.65 reports as "Download is starting",
an error autogen 0.7.5 does not expect) is left to the agent's own download handling. A turn
on a browser that went away, before or during the turn, fails with `BrowserGone`, which the
agent reports as its turn's error. A turn ends as soon as its cancellation token is cancelled
(the stock agent hands the token to its model call only), so a cancelled or timed-out run does not
wait for a page to load before its context closes.

Its screenshots are `Screenshot`s: autogen's `Image` encodes itself to PNG anew every time it is
serialized, and autogen serializes a message for every delivery (its runtime's trace attributes),
every checkpoint (the orchestrator's thread and each agent's buffer) and every model request that
carries it (a vision model's ledgers carry all of them): about 70 ms each for a 1440x900 page. A
`Screenshot` encodes once and keeps the PNG, not the decoded pixels.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from pathlib import Path
from typing import Any

from autogen_core import CancellationToken
from autogen_core import Image as AGImage
from autogen_core.models import ChatCompletionClient
from autogen_ext.agents.web_surfer.playwright_controller import PlaywrightController
from PIL import Image as PILImage
from playwright.async_api import BrowserContext, Download, Error, Page

from ..resumable import WebSurferState
from ._downloads import DownloadLimit, GuardedDownload
from ._pool import BrowserGone, BrowserPool


class Screenshot(AGImage):
    """An autogen `Image` encoded once, when it is made (autogen's encodes on every `to_base64()`),
    and kept as its PNG: the pixels (about 5 MB for a 1440x900 page, which autogen's keeps decoded
    for as long as the message lives) are decoded again only if something asks for them."""

    def __init__(self, image: PILImage.Image) -> None:
        buffer = io.BytesIO()
        (image if image.mode == "RGB" else image.convert("RGB")).save(buffer, format="PNG")  # as autogen's would
        self._base64 = base64.b64encode(buffer.getvalue()).decode()
        self.image = PILImage.open(buffer)  # lazy: its size now, its pixels on first use

    def to_base64(self) -> str:
        return self._base64


class _Controller(PlaywrightController):
    async def visit_page(self, page: Page, url: str) -> tuple[bool, bool]:
        try:
            await page.goto(url)
            await page.wait_for_load_state()
        except Error as error:
            if "Download is starting" not in str(error) and "net::ERR_ABORTED" not in str(error):
                raise
        return True, False  # a download is saved after the tool runs, through the limit


class PooledWebSurfer(WebSurferState):
    """A resumable MultimodalWebSurfer on a context it does not own (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        model_client: ChatCompletionClient,
        *,
        pool: BrowserPool,
        context: BrowserContext,
        downloads_folder: Path,
        start_page: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name,
            model_client,
            downloads_folder=str(downloads_folder),
            start_page=start_page,
            playwright=pool.playwright,
            context=context,
            **kwargs,
        )
        limit: DownloadLimit = pool.download_limit(context)

        def on_download(download: Download) -> None:
            self._last_download = GuardedDownload(download, limit)  # type: ignore[assignment]  # save_as is all it needs

        self._download_handler = on_download
        self._playwright_controller = _Controller(
            animate_actions=self.animate_actions,
            downloads_folder=self.downloads_folder,
            viewport_width=self.VIEWPORT_WIDTH,
            viewport_height=self.VIEWPORT_HEIGHT,
            _download_handler=on_download,
            to_resize_viewport=self.to_resize_viewport,
        )

    async def _generate_reply(self, cancellation_token: CancellationToken) -> Any:
        browser = self._context.browser if self._context is not None else None
        gone = "the browser went away during this task; a new task gets a new one"
        if browser is not None and not browser.is_connected():  # the agent reports it as its turn's error
            raise BrowserGone(gone)
        # The stock turn gives the token to its model call only: a page that takes its time (up to
        # the context's 60 s) would hold a cancelled run. Cancelled with the token, it ends at once.
        turn = asyncio.ensure_future(super()._generate_reply(cancellation_token))
        cancellation_token.link_future(turn)
        try:
            content = await turn
        except Error as error:  # it went away during the turn (killed, crashed): say so, not "target closed"
            if browser is not None and not browser.is_connected():
                raise BrowserGone(gone) from error
            raise
        if isinstance(content, list):
            return [Screenshot(part.image) if type(part) is AGImage else part for part in content]
        return content

    async def close(self) -> None:
        """Close this agent's page only: the context is the task's and the browser the pool's."""
        page, self._page = self._page, None
        if page is not None:
            with contextlib.suppress(Error):
                await page.close()
        self._context = None
        self._playwright = None


def build_web_surfer(
    name: str,
    model_client: ChatCompletionClient,
    *,
    pool: BrowserPool,
    context: BrowserContext,
    downloads_folder: Path,
    start_page: str = "https://www.bing.com/",
    **kwargs: Any,
) -> PooledWebSurfer:
    """The WebSurfer for one task: `context` from `pool.task_context()`, downloads into
    `downloads_folder` (the task's workspace); other keywords go to MultimodalWebSurfer."""
    return PooledWebSurfer(
        name, model_client, pool=pool, context=context, downloads_folder=downloads_folder,
        start_page=start_page, **kwargs,
    )
