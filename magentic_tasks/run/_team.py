"""Assembling the Magentic-One team for one task, from settings.

Unlike autogen-ext's `MagenticOne` helper, no code runs on the host unless `CODE_EXECUTOR` says so,
the FileSurfer is confined to the task's own workspace, and the WebSurfer joins only when it is
enabled and playwright is installed.

Every FileSurfer of a worker process shares one document converter (`MarkItDown`, whose file-type
model takes about 90 ms and 8 MB to load) instead of building its own. Conversions take turns on a
lock: the converter is used from the threads that build teams (a browser opens its workspace as
it is built) and from the event loop (the FileSurfer's tools), and one of markitdown's converters
(`RssConverter`) keeps per-call state on itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import threading
from collections.abc import Collection, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, BinaryIO

from autogen_agentchat.agents import CodeExecutorAgent
from autogen_agentchat.base import ChatAgent
from autogen_agentchat.state import TeamState
from autogen_agentchat.teams import MagenticOneGroupChat
from autogen_core.code_executor import CodeExecutor
from autogen_core.models import ChatCompletionClient
from autogen_ext.agents.file_surfer import FileSurfer
from autogen_ext.agents.file_surfer._markdown_file_browser import MarkdownFileBrowser
from autogen_ext.agents.magentic_one import MagenticOneCoderAgent
from markitdown import DocumentConverterResult, MarkItDown

from ..log_levels import apply_configured_log_levels
from ..resumable import FileSurferState, ResumableMagenticOneGroupChat
from ..settings import Settings
from ._code_execution import build_code_executor
from ._metering import MeteredClient, UsageMeter

logger = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "MagenticOneOrchestrator"
WEB_SURFER = "WebSurfer"
TERMINAL = "ComputerTerminal"
ALWAYS = frozenset({"Coder", "FileSurfer"})


def web_surfer_available() -> bool:
    return importlib.util.find_spec("playwright") is not None


def available_members(settings: Settings) -> frozenset[str]:
    """The agents a team built with these settings has (the orchestrator aside): the Coder and the
    FileSurfer, the WebSurfer when it is enabled and installed, the terminal when code may run."""
    members = set(ALWAYS)
    if settings.enable_web_surfer and web_surfer_available():
        members.add(WEB_SURFER)
    if settings.code_executor != "none":
        members.add(TERMINAL)
    return frozenset(members)


def members_of(state: Mapping[str, Any]) -> frozenset[str]:
    """The agents of the team a saved state was taken from (the orchestrator aside): a resumed run
    is built with exactly these, since autogen loads a state only into the team that saved it."""
    return frozenset(TeamState.model_validate(state).agent_states) - {ORCHESTRATOR_NAME}


class SharedConverter:
    """One `MarkItDown` for the whole process, the two calls `MarkdownFileBrowser` makes, one at a time."""

    _instance: SharedConverter | None = None
    _creating = threading.Lock()

    def __init__(self, converter: MarkItDown) -> None:
        self.converter = converter
        self._turn = threading.RLock()  # re-entrant: markitdown's zip converter converts its members

    @classmethod
    def get(cls) -> SharedConverter:
        """The process's converter, built by the first caller (exactly once, also across threads)."""
        if cls._instance is None:
            with cls._creating:
                if cls._instance is None:
                    cls._instance = cls(MarkItDown())
        return cls._instance

    def convert_local(self, path: str, **kwargs: Any) -> DocumentConverterResult:
        with self._turn:
            return self.converter.convert_local(path, **kwargs)

    def convert_stream(self, stream: BinaryIO, **kwargs: Any) -> DocumentConverterResult:
        with self._turn:
            return self.converter.convert_stream(stream, **kwargs)


class WorkspaceBrowser(MarkdownFileBrowser):
    """autogen-ext 0.7.5's `MarkdownFileBrowser` on the shared converter, opened at its base path.

    Its `__init__` is the parent's minus `MarkItDown()`; tests/domain/test_team.py pins that the
    attributes match a stock browser's, so an autogen-ext upgrade that changes them fails there."""

    def __init__(self, base_path: str, *, viewport_size: int, converter: SharedConverter) -> None:
        self.viewport_size = viewport_size
        self.history: list[tuple[str, float]] = []
        self.page_title: str | None = None
        self.viewport_current_page = 0
        self.viewport_pages: list[tuple[int, int]] = []
        self._markdown_converter = converter  # type: ignore[assignment]  # the two methods the browser calls
        self._base_path = os.path.realpath(base_path)
        self._page_content = ""
        self._find_on_page_query: str | None = None
        self._find_on_page_last_result: int | None = None
        self.set_path(self._base_path)


class WorkspaceFileSurfer(FileSurferState, FileSurfer):
    """autogen-ext's FileSurfer, confined to `base_path`, on the process's shared converter; its
    chat history and open file are in its saved state (`resumable.FileSurferState`)."""

    def __init__(self, name: str, model_client: ChatCompletionClient, base_path: str) -> None:
        super(FileSurfer, self).__init__(name, FileSurfer.DEFAULT_DESCRIPTION)  # skip FileSurfer's own browser
        self._model_client = model_client
        self._chat_history = []
        self._browser = WorkspaceBrowser(base_path, viewport_size=1024 * 5, converter=SharedConverter.get())


async def build_team(
    settings: Settings,
    client: ChatCompletionClient,
    meter: UsageMeter,
    workspace: Path,
    resources: AsyncExitStack,
    *,
    review_plan: bool = False,
    members: Collection[str] | None = None,
) -> MagenticOneGroupChat:
    """The team for one run; executors it starts are stopped when `resources` closes. Each of its
    `run_stream()` calls ends after one round (`resumable.RoundEnd`): drive it with `RoundLoop`.
    With `review_plan` its first run ends once facts and plan are made (`resumable.PLAN_READY`).
    `members` (a resumed run's: `members_of` its state) leaves out the optional agents it does not
    name; it must not name one these settings cannot build (`_start` starts such a run over)."""
    wanted = available_members(settings) if members is None else frozenset(members)
    missing = wanted - available_members(settings)
    if missing:
        raise ValueError(f"the settings no longer provide {', '.join(sorted(missing))}")

    def metered(agent: str) -> ChatCompletionClient:
        return MeteredClient(client, agent, meter)

    apply_configured_log_levels(settings)
    await asyncio.to_thread(workspace.mkdir, parents=True, exist_ok=True)
    # The first FileSurfer of the process loads the converter's file-type model (magika): off the event loop.
    file_surfer = await asyncio.to_thread(WorkspaceFileSurfer, "FileSurfer", metered("FileSurfer"), str(workspace))
    participants: list[ChatAgent] = [MagenticOneCoderAgent("Coder", model_client=metered("Coder")), file_surfer]
    if settings.enable_web_surfer and (members is None or WEB_SURFER in members):
        if web_surfer_available():
            from autogen_ext.agents.web_surfer import MultimodalWebSurfer

            participants.append(
                MultimodalWebSurfer(
                    "WebSurfer",
                    model_client=metered("WebSurfer"),
                    headless=True,
                    downloads_folder=str(workspace),
                )
            )
        else:
            logger.warning("ENABLE_WEB_SURFER is set but playwright is not installed; running without WebSurfer")
    executor: CodeExecutor | None = build_code_executor(settings, workspace / "code") if TERMINAL in wanted else None
    if executor is not None:
        await executor.start()
        resources.push_async_callback(executor.stop)
        participants.append(CodeExecutorAgent("ComputerTerminal", code_executor=executor))
    return ResumableMagenticOneGroupChat(
        participants,
        model_client=metered(ORCHESTRATOR_NAME),
        max_turns=settings.max_turns,
        max_stalls=settings.max_stalls,
        review_plan=review_plan,
    )
