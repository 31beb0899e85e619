"""The team for a task: who is in it, what code may run where, what files may be read."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken, FunctionCall
from autogen_core.code_executor import CodeBlock
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_ext.agents.file_surfer import FileSurfer
from autogen_ext.models.replay import ReplayChatCompletionClient

from magentic_tasks.code_execution import build_code_executor
from magentic_tasks.metering import UsageMeter
from magentic_tasks.settings import Settings
from magentic_tasks.team import build_team

INFO = ModelInfo(vision=False, function_calling=True, json_output=True, family="gpt-4o", structured_output=False)
CANARY = "sk-canary-secret-0123456789abcdef"


async def participants(settings: Settings, workspace: Path) -> list[str]:
    async with contextlib.AsyncExitStack() as resources:
        team = await build_team(settings, ReplayChatCompletionClient([], model_info=INFO), UsageMeter(), workspace,
                                resources)
        return list(team._participant_names)


async def test_by_default_no_code_runs_and_there_is_no_terminal(tmp_path: Path) -> None:
    assert await participants(Settings(), tmp_path) == ["Coder", "FileSurfer"]


async def test_a_configured_executor_adds_the_computer_terminal(tmp_path: Path) -> None:
    names = await participants(Settings(CODE_EXECUTOR="local"), tmp_path)
    assert names == ["Coder", "FileSurfer", "ComputerTerminal"]


async def test_the_web_surfer_joins_only_when_playwright_is_installed(tmp_path: Path) -> None:
    import importlib.util

    names = await participants(Settings(ENABLE_WEB_SURFER="true"), tmp_path)
    assert ("WebSurfer" in names) == (importlib.util.find_spec("playwright") is not None)


async def test_code_run_locally_sees_none_of_the_apps_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("AzureWebJobsStorage", f"AccountKey={CANARY}")
    executor = build_code_executor(Settings(CODE_EXECUTOR="local"), tmp_path / "code")
    assert executor is not None
    await executor.start()
    try:
        result = await executor.execute_code_blocks(
            [
                CodeBlock(language="python", code="import os\nprint(sorted(os.environ.items()))"),
                CodeBlock(language="bash", code="env; echo done"),
                CodeBlock(language="sh", code="env"),
            ],
            CancellationToken(),
        )
    finally:
        await executor.stop()
    assert result.exit_code == 0, result.output
    assert "PATH" in result.output and "done" in result.output
    assert CANARY not in result.output
    assert "OPENAI_API_KEY" not in result.output and "AzureWebJobsStorage" not in result.output


async def test_the_file_surfer_cannot_read_outside_the_task_workspace(tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("TOP SECRET CONTENT")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "inside.txt").write_text("task file content")

    def open_path(path: str) -> CreateResult:
        call = FunctionCall(id="1", name="open_path", arguments=f'{{"path": "{path}"}}')
        return CreateResult(finish_reason="function_calls", content=[call], usage=RequestUsage(0, 0), cached=False)

    client = ReplayChatCompletionClient(
        [open_path(str(secret)), open_path("../outside.txt"), open_path(str(workspace / "inside.txt"))], model_info=INFO
    )
    surfer = FileSurfer("FileSurfer", model_client=client, base_path=str(workspace))
    replies = []
    for _ in range(3):
        response = await surfer.on_messages([TextMessage(source="user", content="open it")], CancellationToken())
        replies.append(str(response.chat_message.to_text()))
    assert all("TOP SECRET CONTENT" not in reply for reply in replies[:2])
    assert "task file content" in replies[2]
