"""The WebSurfer's state: its chat history and the page it was on (the stock agent saves none)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from autogen_core.models import LLMMessage
from autogen_ext.agents.web_surfer import MultimodalWebSurfer
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, TypeAdapter

_HISTORY: TypeAdapter[list[LLMMessage]] = TypeAdapter(list[LLMMessage])
_LONGEST_URL = 8 * 1024


class _State(BaseModel):
    type: str = "WebSurferState"
    chat_history: list[Any] = []
    url: str | None = None
    prior_metadata_hash: str | None = None


class WebSurferState(MultimodalWebSurfer):
    """Mixin for a MultimodalWebSurfer (autogen-ext 0.7.5: `_chat_history`, `_page`,
    `_prior_metadata_hash`, `start_page` and `_lazy_init`): `save_state` / `load_state` carry the
    chat history and the page's URL. A loaded URL is opened at once if the agent has a page, else
    by its first turn instead of the start page; one that no longer opens leaves the start page."""

    _resume_url: str | None = None

    async def save_state(self) -> Mapping[str, Any]:
        url = self._resume_url
        if self._page is not None and not self._page.is_closed():
            url = self._page.url
        if url is not None and (url.startswith("data:") or len(url) > _LONGEST_URL):
            url = None  # the WebSurfer's own download notice, or too long to keep: the start page will do
        return _State(
            chat_history=_HISTORY.dump_python(self._chat_history, mode="json"),
            url=url,
            prior_metadata_hash=self._prior_metadata_hash,
        ).model_dump(mode="json")

    async def load_state(self, state: Mapping[str, Any]) -> None:
        saved = _State.model_validate(state)
        self._chat_history = _HISTORY.validate_python(saved.chat_history)
        self._prior_metadata_hash = saved.prior_metadata_hash
        if self._page is not None and not self._page.is_closed() and saved.url:
            with contextlib.suppress(PlaywrightError):
                await self._page.goto(saved.url)
            return
        self._resume_url = saved.url

    async def _lazy_init(self) -> None:
        url, self._resume_url = self._resume_url, None
        if url is None:
            await super()._lazy_init()
            return
        start_page, self.start_page = self.start_page, url  # open the saved page instead of the start page
        try:
            await super()._lazy_init()
        except PlaywrightError:
            if self._page is None:
                raise
            self.start_page = start_page
            await self._page.goto(start_page)
            await self._set_debug_dir(self.debug_dir)
            self.did_lazy_init = True
        finally:
            self.start_page = start_page
