"""The WebSurfer's state: its chat history and the page it was on, scrolled where it was (the stock
agent saves none)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from autogen_core.models import LLMMessage
from autogen_ext.agents.web_surfer import MultimodalWebSurfer
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from pydantic import BaseModel, TypeAdapter

_HISTORY: TypeAdapter[list[LLMMessage]] = TypeAdapter(list[LLMMessage])
_LONGEST_URL = 8 * 1024


class _State(BaseModel):
    type: str = "WebSurferState"
    chat_history: list[Any] = []
    url: str | None = None
    scroll: tuple[float, float] | None = None  # the page's scroll offset (x, y)
    prior_metadata_hash: str | None = None


class WebSurferState(MultimodalWebSurfer):
    """Mixin for a MultimodalWebSurfer (autogen-ext 0.7.5: `_chat_history`, `_page`,
    `_prior_metadata_hash`, `start_page` and `_lazy_init`): `save_state` / `load_state` carry the
    chat history, the page's URL and its scroll offset. A loaded page is opened (and scrolled) at
    once if the agent has a page, else by its first turn instead of the start page; one that no
    longer opens leaves the start page. The page is loaded again from its URL: what it held only
    in its live document (text typed but not sent, a script's state) is not restored."""

    _resume: _State | None = None

    async def save_state(self) -> Mapping[str, Any]:
        url, scroll = (self._resume.url, self._resume.scroll) if self._resume is not None else (None, None)
        if self._page is not None and not self._page.is_closed():
            url, scroll = self._page.url, await _scroll_of(self._page)
        if url is not None and (url.startswith("data:") or len(url) > _LONGEST_URL):
            url, scroll = None, None  # the WebSurfer's own download notice, or too long to keep: the start page
        return _State(
            chat_history=_HISTORY.dump_python(self._chat_history, mode="json"),
            url=url,
            scroll=scroll,
            prior_metadata_hash=self._prior_metadata_hash,
        ).model_dump(mode="json")

    async def load_state(self, state: Mapping[str, Any]) -> None:
        saved = _State.model_validate(state)
        self._chat_history = _HISTORY.validate_python(saved.chat_history)
        self._prior_metadata_hash = saved.prior_metadata_hash
        if self._page is not None and not self._page.is_closed() and saved.url:
            with contextlib.suppress(PlaywrightError):
                await self._page.goto(saved.url)
                await _scroll_to(self._page, saved.scroll)
            return
        self._resume = saved if saved.url else None

    async def _lazy_init(self) -> None:
        resume, self._resume = self._resume, None
        if resume is None or resume.url is None:
            await super()._lazy_init()
            return
        start_page, self.start_page = self.start_page, resume.url  # open the saved page instead of the start page
        try:
            await super()._lazy_init()  # it forgets the page's metadata: the saved page's is kept
            await _scroll_to(self._page, resume.scroll)
            self._prior_metadata_hash = resume.prior_metadata_hash
        except PlaywrightError:
            if self._page is None:
                raise
            self.start_page = start_page
            await self._page.goto(start_page)
            await self._set_debug_dir(self.debug_dir)
            self.did_lazy_init = True
        finally:
            self.start_page = start_page


async def _scroll_of(page: Page) -> tuple[float, float] | None:
    with contextlib.suppress(PlaywrightError):
        x, y = await page.evaluate("[window.scrollX, window.scrollY]")
        return float(x), float(y)
    return None


async def _scroll_to(page: Page | None, scroll: tuple[float, float] | None) -> None:
    if page is not None and scroll is not None and scroll != (0.0, 0.0):
        with contextlib.suppress(PlaywrightError):  # the page is open; where it shows is a detail
            await page.evaluate("([x, y]) => window.scrollTo(x, y)", list(scroll))
