"""autogen's loggers keep prompts out of the logs at INFO unless `LOG_PROMPTS` is on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from magentic_tasks.log_levels import PROMPT_LOGGERS, apply_configured_log_levels, apply_log_levels
from magentic_tasks.redaction import Redactor
from magentic_tasks.runner import run_team
from magentic_tasks.schemas import MessageView, TaskInput
from magentic_tasks.settings import Settings, get_settings
from tests.support.model_server import ScriptedModelServer

# autogen logs each call's `ParsedChatCompletion.model_dump()`, which pydantic warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

PROMPT = "Summarise the migration notes of the zebra herd 7f3k2q"


@pytest.fixture(autouse=True)
def _restore_levels() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in PROMPT_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    get_settings.cache_clear()


async def logged_during_a_run(server: ScriptedModelServer, workspace: Path, caplog: pytest.LogCaptureFixture,
                              **values: str) -> list[logging.LogRecord]:
    settings = Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test-0123456789abcdefgh", **values)
    task = TaskInput(task_id="task-1", prompt=PROMPT, use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))

    async def sink(views: list[MessageView]) -> None:
        return None

    with caplog.at_level(logging.INFO):
        report = await run_team(task, settings, sink, workspace=workspace, redact=Redactor(settings.secrets()))
    assert report.status == "completed", report.error
    return list(caplog.records)


@pytest.mark.parametrize("log_prompts", ["false", "true"])
async def test_a_run_at_info_logs_its_prompt_only_when_log_prompts_is_on(
    log_prompts: str, model_server: ScriptedModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = await logged_during_a_run(model_server, tmp_path, caplog, LOG_PROMPTS=log_prompts)
    with_prompt = [record for record in records if PROMPT in record.getMessage()]
    if log_prompts == "true":
        assert {record.name for record in with_prompt} >= {"autogen_core", "autogen_core.events"}
    else:
        assert with_prompt == []


def test_the_loggers_are_quiet_at_info_and_keep_their_warnings() -> None:
    logging.getLogger().setLevel(logging.INFO)
    apply_log_levels(False)
    for name in (*PROMPT_LOGGERS, "autogen_core.trace"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    apply_log_levels(True)
    assert all(logging.getLogger(name).isEnabledFor(logging.INFO) for name in PROMPT_LOGGERS)


@pytest.mark.parametrize(("value", "quiet"), [(None, True), ("false", True), ("true", False), ("1", False)])
def test_the_setting_is_read_from_the_environment(
    value: str | None, quiet: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("LOG_PROMPTS", raising=False)
    else:
        monkeypatch.setenv("LOG_PROMPTS", value)
    get_settings.cache_clear()
    apply_configured_log_levels()
    assert logging.getLogger("autogen_core.events").level == (logging.WARNING if quiet else logging.NOTSET)


def test_unreadable_settings_leave_the_loggers_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_log_levels(True)
    monkeypatch.setenv("MAX_TURNS", "not a number")
    get_settings.cache_clear()
    apply_configured_log_levels()
    assert logging.getLogger("autogen_core").level == logging.WARNING
