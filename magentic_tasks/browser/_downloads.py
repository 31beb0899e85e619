"""Downloads of one task context: stopped once they pass the size cap, saved into the task's folder.

Playwright reports a download when it starts and when it ends, nothing between, so the cap is
watched through Chromium's own progress events (`Page.downloadProgress` on a CDP session per page):
a download whose announced or received size passes `max_bytes` is cancelled while it runs. What
lands in the folder is checked again when it is saved, so the cap holds also where those events
are missing: a file over it is deleted and the save fails with `DownloadRefused`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Download, Error, Page

logger = logging.getLogger(__name__)


class DownloadRefused(Exception):
    """A download that was not saved; the message says why, for the agent to read."""


def safe_filename(suggested: str) -> str:
    """A file name without folders or leading dots (the browser's suggestion is the server's)."""
    name = os.path.basename(suggested.replace("\\", "/")).strip().lstrip(".")
    return name[:200] or "download"


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"


class DownloadLimit:
    """Watches one context's downloads; `save(download, path)` puts a finished one at `path`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._urls: dict[str, str] = {}  # CDP download id -> URL
        self._over: set[str] = set()  # URLs whose download passed the cap
        self._running: list[Download] = []
        self._watchers: set[asyncio.Task[None]] = set()

    def watch(self, context: BrowserContext) -> None:
        """Follow every page the context opens from now on."""
        context.on("page", self._on_page)

    def _on_page(self, page: Page) -> None:
        page.on("download", self._on_download)
        watcher = asyncio.get_running_loop().create_task(self._watch_progress(page))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch_progress(self, page: Page) -> None:
        with contextlib.suppress(Error):  # not Chromium, or the page closed at once
            session = await page.context.new_cdp_session(page)
            session.on("Page.downloadWillBegin", self._on_begin)
            session.on("Page.downloadProgress", self._on_progress)
            await session.send("Page.enable")

    def _on_begin(self, event: dict[str, Any]) -> None:
        self._urls[str(event.get("guid"))] = str(event.get("url"))

    def _on_progress(self, event: dict[str, Any]) -> None:
        size = max(int(event.get("totalBytes") or 0), int(event.get("receivedBytes") or 0))
        url = self._urls.get(str(event.get("guid")))
        if url is not None and size > self.max_bytes and url not in self._over:
            logger.info("download stopped: more than %s", _size_text(self.max_bytes))
            self._over.add(url)
            for download in self._running:
                if download.url == url:
                    self._cancel(download)

    def _on_download(self, download: Download) -> None:
        self._running.append(download)
        if self.max_bytes == 0 or download.url in self._over:
            self._cancel(download)

    def _cancel(self, download: Download) -> None:
        task = asyncio.get_running_loop().create_task(download.cancel())
        self._watchers.add(task)  # kept alive until done, like the watchers
        task.add_done_callback(self._watchers.discard)

    async def save(self, download: Download, path: Path) -> Path:
        """Wait for `download` to finish and move it to `path`; `DownloadRefused` when downloads
        are off, it failed, or it is larger than the cap (nothing is left at `path` then)."""
        name = safe_filename(download.suggested_filename)
        try:
            if self.max_bytes == 0:
                raise DownloadRefused(f"the download of {name} was refused: downloads are off on this server")
            failure = await download.failure()
            if download.url in self._over:
                raise DownloadRefused(
                    f"the download of {name} was stopped: it is larger than this server's limit of "
                    f"{_size_text(self.max_bytes)} (WEB_DOWNLOAD_MAX_BYTES)"
                )
            if failure is not None:
                raise DownloadRefused(f"the download of {name} failed: {failure}")
            partial = path.with_name(f".{path.name}.part")
            await download.save_as(partial)
            size = partial.stat().st_size
            if size > self.max_bytes:
                partial.unlink()
                raise DownloadRefused(
                    f"the download of {name} was refused: {_size_text(size)} is larger than this server's "
                    f"limit of {_size_text(self.max_bytes)} (WEB_DOWNLOAD_MAX_BYTES)"
                )
            partial.replace(path)
            return path
        finally:
            with contextlib.suppress(ValueError):
                self._running.remove(download)
            with contextlib.suppress(Error):
                await download.delete()  # the browser's own copy


class GuardedDownload:
    """What the WebSurfer holds as its last download: its `save_as` goes through the limit."""

    def __init__(self, download: Download, limit: DownloadLimit) -> None:
        self.download = download
        self.limit = limit

    @property
    def suggested_filename(self) -> str:
        return safe_filename(self.download.suggested_filename)

    async def save_as(self, path: str | Path) -> None:
        await self.limit.save(self.download, Path(path))
