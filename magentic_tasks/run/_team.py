"""Assembling the Magentic-One team for one task, from settings.

Unlike autogen-ext's `MagenticOne` helper, no code runs on the host unless `CODE_EXECUTOR` says so,
the FileSurfer is confined to the task's own workspace, and the WebSurfer browses in a fresh
context of the worker's shared browser (`magentic_tasks.browser`), behind the navigation policy,
where `ENABLE_WEB_SURFER` finds one.

Every FileSurfer of a worker process shares one document converter (`MarkItDown`, whose file-type
model takes about 90 ms and 8 MB to load) instead of building its own. Conversions take turns on a
lock: the converter is used from the threads that build teams (a browser opens its workspace as
it is built) and from the event loop (the FileSurfer's tools), and one of markitdown's converters
(`RssConverter`) keeps per-call state on itself.
"""

from __future__ import annotations

import asyncio
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

from ..browser import build_web_surfer, pool_from_settings, web_surfer_decision
from ..log_levels import apply_configured_log_levels
from ..resumable import FileSurferState, ResumableMagenticOneGroupChat
from ..schemas import AGENT_NAMES, AgentName, TaskInput
from ..settings import Settings
from ._code_execution import build_code_executor
from ._files import terminal_home
from ._metering import MeteredClient, UsageMeter

logger = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "MagenticOneOrchestrator"
WEB_SURFER = "WebSurfer"
TERMINAL = "ComputerTerminal"
# The agents each `agents` choice brings (the terminal only where CODE_EXECUTOR lets code run).
_MEMBERS_OF_CHOICE: dict[AgentName, tuple[str, ...]] = {"code": ("Coder", TERMINAL), "files": ("FileSurfer",),
                                                        "web": (WEB_SURFER,)}


def task_settings(settings: Settings, task: TaskInput) -> Settings:
    """The settings with the task's own limits (`TeamOptions`, capped by these when it was created)."""
    if task.team is None:  # created before per-task options: the server's limits
        return settings
    return settings.model_copy(update={
        "max_turns": task.team.max_turns,
        "max_tokens_per_task": task.team.max_tokens,
        "task_timeout_seconds": task.team.deadline_seconds,
    })


def available_members(settings: Settings, agents: Collection[AgentName] | None = None) -> frozenset[str]:
    """The agents a team built with these settings and the task's `agents` (default: all) has, the
    orchestrator aside: the Coder (with the terminal where code may run), the FileSurfer, the
    WebSurfer where `ENABLE_WEB_SURFER` finds a browser."""
    members = {member for choice in (agents or AGENT_NAMES) for member in _MEMBERS_OF_CHOICE[choice]}
    if settings.code_executor == "none":
        members.discard(TERMINAL)
    if WEB_SURFER in members and not web_surfer_decision(settings).enabled:
        members.discard(WEB_SURFER)
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
    agents: Collection[AgentName] | None = None,
    members: Collection[str] | None = None,
) -> MagenticOneGroupChat:
    """The team for one run; executors it starts are stopped when `resources` closes. Each of its
    `run_stream()` calls ends after one round (`resumable.RoundEnd`): drive it with `RoundLoop`.
    With `review_plan` its first run ends once facts and plan are made (`resumable.PLAN_READY`).
    `agents` (the task's choice; default: all) picks the Coder (with the ComputerTerminal where
    CODE_EXECUTOR is set), the FileSurfer and the WebSurfer; `members` (a resumed run's: `members_of`
    its state) builds exactly those, and must not name one these settings cannot build (`_start`
    starts such a run over)."""
    possible = available_members(settings, agents)
    wanted = possible if members is None else frozenset(members)
    missing = wanted - possible
    if missing:
        raise ValueError(f"the settings no longer provide {', '.join(sorted(missing))}")

    def metered(agent: str) -> ChatCompletionClient:
        return MeteredClient(client, agent, meter)

    apply_configured_log_levels(settings)
    await asyncio.to_thread(workspace.mkdir, parents=True, exist_ok=True)
    participants: list[ChatAgent] = []
    if "Coder" in wanted:
        participants.append(MagenticOneCoderAgent("Coder", model_client=metered("Coder")))
    if "FileSurfer" in wanted:
        # The first FileSurfer of the process loads the converter's file-type model (magika): off the event loop.
        participants.append(
            await asyncio.to_thread(WorkspaceFileSurfer, "FileSurfer", metered("FileSurfer"), str(workspace))
        )
    if WEB_SURFER in wanted:
        web_surfer = await _web_surfer(settings, metered(WEB_SURFER), workspace, resources)
        if web_surfer is not None:
            participants.append(web_surfer)
    # The terminal runs code in the workspace itself (the attachments are in inputs/, what it writes is
    # kept); its wrappers and HOME are beside it, not in it.
    executor: CodeExecutor | None = (
        build_code_executor(settings, workspace, scratch=terminal_home(workspace)) if TERMINAL in wanted else None)
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


async def _web_surfer(
    settings: Settings, client: ChatCompletionClient, workspace: Path, resources: AsyncExitStack
) -> ChatAgent | None:
    """The WebSurfer on a fresh context of the process's browser (closed with `resources`), or None
    where this server has no browser (`ENABLE_WEB_SURFER`; said once in the log)."""
    decision = web_surfer_decision(settings)
    if not decision.enabled or decision.route is None:
        _say_once(f"no WebSurfer: {decision.reason}", logging.WARNING if settings.enable_web_surfer else logging.INFO)
        return None
    _say_once(decision.reason, logging.INFO)
    if not client.model_info.get("vision", False):
        _say_once("the WebSurfer reads pages as text: the model has no vision (MODEL_INFO)", logging.INFO)
    pool = pool_from_settings(settings, decision.route)
    context = await resources.enter_async_context(pool.task_context())
    return build_web_surfer("WebSurfer", client, pool=pool, context=context, downloads_folder=workspace,
                            start_page=settings.web_start_page)


_said: set[str] = set()


def _say_once(text: str, level: int) -> None:
    if text not in _said:
        _said.add(text)
        logger.log(level, text)
