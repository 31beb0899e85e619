"""Assembling the Magentic-One team for one task, from settings.

Unlike autogen-ext's `MagenticOne` helper, no code runs on the host unless `CODE_EXECUTOR` says so,
the FileSurfer is confined to the task's own workspace, and the WebSurfer joins only when it is
enabled and playwright is installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from contextlib import AsyncExitStack
from pathlib import Path

from autogen_agentchat.agents import CodeExecutorAgent
from autogen_agentchat.base import ChatAgent
from autogen_agentchat.teams import MagenticOneGroupChat
from autogen_core.code_executor import CodeExecutor
from autogen_core.models import ChatCompletionClient
from autogen_ext.agents.file_surfer import FileSurfer
from autogen_ext.agents.magentic_one import MagenticOneCoderAgent

from .code_execution import build_code_executor
from .metering import MeteredClient, UsageMeter
from .settings import Settings

logger = logging.getLogger(__name__)

ORCHESTRATOR_NAME = "MagenticOneOrchestrator"


def web_surfer_available() -> bool:
    return importlib.util.find_spec("playwright") is not None


async def build_team(
    settings: Settings,
    client: ChatCompletionClient,
    meter: UsageMeter,
    workspace: Path,
    resources: AsyncExitStack,
) -> MagenticOneGroupChat:
    """The team for one run; executors it starts are stopped when `resources` closes."""

    def metered(agent: str) -> ChatCompletionClient:
        return MeteredClient(client, agent, meter)

    await asyncio.to_thread(workspace.mkdir, parents=True, exist_ok=True)
    # FileSurfer loads a file-type model (magika) as it is built: tens of ms, kept off the event loop.
    file_surfer = await asyncio.to_thread(
        FileSurfer, "FileSurfer", model_client=metered("FileSurfer"), base_path=str(workspace)
    )
    participants: list[ChatAgent] = [MagenticOneCoderAgent("Coder", model_client=metered("Coder")), file_surfer]
    if settings.enable_web_surfer:
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
    executor: CodeExecutor | None = build_code_executor(settings, workspace / "code")
    if executor is not None:
        await executor.start()
        resources.push_async_callback(executor.stop)
        participants.append(CodeExecutorAgent("ComputerTerminal", code_executor=executor))
    return MagenticOneGroupChat(
        participants,
        model_client=metered(ORCHESTRATOR_NAME),
        max_turns=settings.max_turns,
        max_stalls=settings.max_stalls,
    )
