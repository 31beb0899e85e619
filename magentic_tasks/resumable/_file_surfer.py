"""The FileSurfer's state: its chat history and where its browser is (the stock agent saves none)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from autogen_core.models import LLMMessage
from autogen_ext.agents.file_surfer import FileSurfer
from pydantic import BaseModel, TypeAdapter

_HISTORY: TypeAdapter[list[LLMMessage]] = TypeAdapter(list[LLMMessage])


class _State(BaseModel):
    type: str = "FileSurferState"
    chat_history: list[Any] = []
    path: str | None = None
    viewport_current_page: int = 0
    find_query: str | None = None
    find_last_result: int | None = None


class FileSurferState(FileSurfer):
    """Mixin for a FileSurfer (autogen-ext 0.7.5: `_chat_history`, `_browser` and the browser's
    page and search attributes): `save_state` / `load_state` carry them. A saved file that is gone
    (another instance's workspace) opens the workspace itself instead."""

    async def save_state(self) -> Mapping[str, Any]:
        browser = self._browser
        return _State(
            chat_history=_HISTORY.dump_python(self._chat_history, mode="json"),
            path=browser.path,
            viewport_current_page=browser.viewport_current_page,
            find_query=browser._find_on_page_query,
            find_last_result=browser._find_on_page_last_result,
        ).model_dump(mode="json")

    async def load_state(self, state: Mapping[str, Any]) -> None:
        saved = _State.model_validate(state)
        self._chat_history = _HISTORY.validate_python(saved.chat_history)
        await asyncio.to_thread(self._reopen, saved)  # converting the file blocks

    def _reopen(self, saved: _State) -> None:
        browser = self._browser
        if saved.path and os.path.exists(saved.path):
            browser.set_path(saved.path)
            browser.viewport_current_page = min(saved.viewport_current_page, max(len(browser.viewport_pages) - 1, 0))
        browser._find_on_page_query = saved.find_query
        browser._find_on_page_last_result = saved.find_last_result
