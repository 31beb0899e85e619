"""The team for a task: who is in it, what code may run where, what files may be read."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken, FunctionCall
from autogen_core.code_executor import CodeBlock
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_ext.agents.file_surfer import FileSurfer
from autogen_ext.agents.file_surfer._markdown_file_browser import MarkdownFileBrowser
from autogen_ext.models.replay import ReplayChatCompletionClient

from magentic_tasks.browser import PooledWebSurfer, pool_from_settings, route_from_settings
from magentic_tasks.run import (
    SharedConverter,
    UsageMeter,
    WorkspaceBrowser,
    WorkspaceFileSurfer,
    build_code_executor,
    build_team,
)
from magentic_tasks.schemas import AgentName
from magentic_tasks.settings import Settings
from tests.browser.conftest import CHROMIUM, chromium_missing

INFO = ModelInfo(vision=False, function_calling=True, json_output=True, family="gpt-4o", structured_output=False)
CANARY = "sk-canary-secret-0123456789abcdef"


async def participants(settings: Settings, workspace: Path, agents: Collection[AgentName] | None = None) -> list[str]:
    async with contextlib.AsyncExitStack() as resources:
        team = await build_team(settings, ReplayChatCompletionClient([], model_info=INFO), UsageMeter(), workspace,
                                resources, agents=agents)
        return list(team._participant_names)


async def test_by_default_no_code_runs_and_there_is_no_terminal(tmp_path: Path) -> None:
    assert await participants(Settings(), tmp_path) == ["Coder", "FileSurfer"]


async def test_a_configured_executor_adds_the_computer_terminal(tmp_path: Path) -> None:
    names = await participants(Settings(CODE_EXECUTOR="local"), tmp_path)
    assert names == ["Coder", "FileSurfer", "ComputerTerminal"]


@pytest.mark.parametrize(("agents", "expected"), [
    (["code"], ["Coder", "ComputerTerminal"]),
    (["files"], ["FileSurfer"]),  # no one writes code, so nothing runs any
    (["files", "code"], ["Coder", "FileSurfer", "ComputerTerminal"]),
])
async def test_a_task_picks_its_agents(tmp_path: Path, agents: list[AgentName], expected: list[str]) -> None:
    assert await participants(Settings(CODE_EXECUTOR="local"), tmp_path, agents) == expected


async def test_the_web_surfer_browses_in_a_context_of_the_workers_pool(tmp_path: Path) -> None:
    if (missing := chromium_missing()) is not None:
        pytest.skip(missing)
    settings = Settings(ENABLE_WEB_SURFER="auto", BROWSER_EXECUTABLE_PATH=CHROMIUM)
    async with contextlib.AsyncExitStack() as resources:
        team = await build_team(settings, ReplayChatCompletionClient([], model_info=INFO), UsageMeter(), tmp_path,
                                resources)
        assert list(team._participant_names) == ["Coder", "FileSurfer", "WebSurfer"]
        surfer = next(p for p in team._participants if p.name == "WebSurfer")
        assert isinstance(surfer, PooledWebSurfer)
        pool = pool_from_settings(settings, route_from_settings(settings))
        browser = pool._browser
        assert browser is not None and len(browser.contexts) == 1  # the task's own, fresh context
    try:
        assert browser.contexts == []  # closed with the run's resources; the browser stays for the next task
        assert browser.is_connected()
    finally:
        await pool.close()


async def test_without_a_browser_there_is_no_web_surfer(tmp_path: Path) -> None:
    assert "WebSurfer" not in await participants(Settings(ENABLE_WEB_SURFER="false"), tmp_path)
    assert "WebSurfer" not in await participants(Settings(ENABLE_WEB_SURFER="true", BROWSER_CDP_URL=""), tmp_path,
                                                  ["files", "code"])


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
    surfer = WorkspaceFileSurfer("FileSurfer", client, str(workspace))  # the team's FileSurfer
    replies = []
    for _ in range(3):
        response = await surfer.on_messages([TextMessage(source="user", content="open it")], CancellationToken())
        replies.append(str(response.chat_message.to_text()))
    assert all("TOP SECRET CONTENT" not in reply for reply in replies[:2])
    assert "task file content" in replies[2]


# ---- one document converter per worker -------------------------------------------------------


def file_surfer_of(team: object) -> FileSurfer:
    surfers = [agent for agent in team._participants if isinstance(agent, FileSurfer)]  # type: ignore[attr-defined]
    assert len(surfers) == 1
    return surfers[0]


async def test_every_teams_file_surfer_shares_the_process_converter(tmp_path: Path) -> None:
    client = ReplayChatCompletionClient([], model_info=INFO)
    async with contextlib.AsyncExitStack() as resources:
        teams = [await build_team(Settings(), client, UsageMeter(), tmp_path / f"w{i}", resources) for i in range(3)]
    surfers = [file_surfer_of(team) for team in teams]
    assert all(isinstance(surfer, WorkspaceFileSurfer) for surfer in surfers)
    converters = {id(surfer._browser._markdown_converter) for surfer in surfers}
    assert converters == {id(SharedConverter.get())}
    assert [surfer._browser.path for surfer in surfers] == [str((tmp_path / f"w{i}").resolve()) for i in range(3)]


def test_the_shared_converter_is_built_once_across_threads() -> None:
    SharedConverter._instance = None
    start = threading.Barrier(8, timeout=30)

    def get() -> int:
        start.wait()
        return id(SharedConverter.get())

    with ThreadPoolExecutor(8) as pool:
        assert len(set(pool.map(lambda _: get(), range(8)))) == 1


def test_the_workspace_browser_is_a_stock_browser_but_for_its_converter(tmp_path: Path) -> None:
    stock = MarkdownFileBrowser(viewport_size=1024 * 5, base_path=str(tmp_path))
    ours = WorkspaceBrowser(str(tmp_path), viewport_size=1024 * 5, converter=SharedConverter.get())
    assert vars(ours).keys() == vars(stock).keys()
    differing = {name for name in vars(stock) if vars(stock)[name] != vars(ours)[name]}
    assert differing <= {"_markdown_converter", "history"}  # history: the time each page was opened
    assert [path for path, _ in ours.history] == [path for path, _ in stock.history]
    assert (ours.page_title, ours.page_content) == (stock.page_title, stock.page_content)

    client = ReplayChatCompletionClient([], model_info=INFO)
    stock_surfer = FileSurfer("FileSurfer", model_client=client, base_path=str(tmp_path))
    our_surfer = WorkspaceFileSurfer("FileSurfer", client, str(tmp_path))
    assert vars(our_surfer).keys() == vars(stock_surfer).keys()
    assert our_surfer.description == stock_surfer.description


def test_concurrent_conversions_each_read_their_own_file(tmp_path: Path) -> None:
    browsers = []
    for i in range(16):
        workspace = tmp_path / f"w{i}"
        workspace.mkdir()
        (workspace / "notes.md").write_text(f"# Notes {i}\n\n" + f"line {i}\n" * 200)
        (workspace / "table.csv").write_text("a,b\n" + f"{i},{i * i}\n" * 50)
        browsers.append(WorkspaceBrowser(str(workspace), viewport_size=1024 * 5, converter=SharedConverter.get()))
    start = threading.Barrier(8, timeout=30)

    def read(i: int) -> tuple[str, str]:
        start.wait()
        workspace = tmp_path / f"w{i}"
        browsers[i].open_path(str(workspace / "notes.md"))
        notes = browsers[i].page_content
        browsers[i].open_path(str(workspace / "table.csv"))
        return notes, browsers[i].page_content

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(read, range(len(browsers))))
    for i, (notes, table) in enumerate(results):
        assert notes.startswith(f"# Notes {i}") and f"line {i}" in notes
        assert f"| {i} | {i * i} |" in table
