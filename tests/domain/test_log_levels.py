"""autogen's loggers keep prompts out of the logs at INFO unless `LOG_PROMPTS` is on, and a
cancelled run logs no ERROR from autogen's runtime (while a failing one still does)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pytest

from magentic_tasks import log_levels
from magentic_tasks.log_levels import (
    PROMPT_LOGGERS,
    PUBLISH_ERROR,
    RUNTIME_LOGGER,
    CancelledPublishFilter,
    apply_configured_log_levels,
    apply_log_levels,
)
from magentic_tasks.redaction import Redactor, install_log_redaction
from magentic_tasks.run import RunReport, StopSignal, run_team
from magentic_tasks.schemas import MessageView, TaskInput
from magentic_tasks.settings import Settings, get_settings
from tests.support.model_server import Faults, Script, ScriptedModelServer

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


# ---- a cancelled run: no ERROR from autogen's runtime -------------------------------------------

StartServer = Callable[..., ScriptedModelServer]


@pytest.fixture(params=["plain records", "redacted records"])
def record_factory(request: pytest.FixtureRequest) -> Iterator[str]:
    """Records as the standard library makes them, or as the app makes them: redacted as they are
    created, their traceback already written into the message (magentic_tasks.redaction)."""
    saved = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    if request.param == "redacted records":
        install_log_redaction(lambda: [])
    yield str(request.param)
    logging.setLogRecordFactory(saved)


@pytest.fixture
def unquieted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """autogen's runtime logger as it is without this module's filter."""
    runtime = logging.getLogger(RUNTIME_LOGGER)
    installed = [f for f in runtime.filters if isinstance(f, CancelledPublishFilter)]
    for installed_filter in installed:
        runtime.removeFilter(installed_filter)
    monkeypatch.setattr(log_levels, "quiet_cancelled_publish", lambda: None)
    yield
    for installed_filter in installed:
        runtime.addFilter(installed_filter)


async def a_run(server: ScriptedModelServer, workspace: Path, caplog: pytest.LogCaptureFixture, *,
                cancel_during_the_coders_call: bool) -> tuple[RunReport, list[logging.LogRecord]]:
    """A real team run; cancelled (as `POST /tasks/{id}/cancel` does, through the stop signal) while
    the Coder waits on the model, or left to end as the server's script and faults make it end."""
    settings = Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test-0123456789abcdefgh",
                        MODEL_MAX_RETRIES=0)
    task = TaskInput(task_id="task-1", prompt=PROMPT, use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))

    async def cancel_requested() -> str | None:
        if cancel_during_the_coders_call and server.calls_by_kind["coder"]:
            return "cancelled through POST /tasks/task-1/cancel"
        return None

    async def sink(views: list[MessageView]) -> None:
        return None

    with caplog.at_level(logging.INFO):
        report = await run_team(task, settings, sink, workspace=workspace, redact=Redactor(settings.secrets()),
                                stop=StopSignal(cancel_requested, interval=0.02))
    return report, list(caplog.records)


def publish_errors(records: list[logging.LogRecord]) -> list[str]:
    """autogen's "Error processing publish message" records: the exception each names."""
    found = []
    for record in records:
        if record.name == RUNTIME_LOGGER and record.getMessage().startswith(PUBLISH_ERROR):
            assert record.levelno == logging.ERROR
            if record.exc_info is not None and record.exc_info[0] is not None:
                found.append(record.exc_info[0].__name__)
            else:
                last = record.getMessage().rstrip().rpartition("\n")[2]  # "module.Name: text"
                found.append(last.split(":", 1)[0].rpartition(".")[2])
    return found


async def test_a_cancelled_run_logs_no_error(
    record_factory: str, start_model_server: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_model_server(Script(rounds_before_satisfied=100), Faults(latency=0.3))
    report, records = await a_run(server, tmp_path, caplog, cancel_during_the_coders_call=True)

    assert report.status == "cancelled" and report.stop_reason == "cancelled"
    assert server.calls_by_kind["coder"] == 1 and "Coder" not in {m.source for m in report.messages}
    assert [r.getMessage()[:200] for r in records if r.levelno >= logging.ERROR] == []


async def test_without_the_filter_autogen_logs_the_cancel_as_an_error(
    record_factory: str, unquieted: None, start_model_server: StartServer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the filter is for: the same cancelled run, as autogen logs it."""
    server = start_model_server(Script(rounds_before_satisfied=100), Faults(latency=0.3))
    report, records = await a_run(server, tmp_path, caplog, cancel_during_the_coders_call=True)

    assert report.status == "cancelled"
    assert publish_errors(records) == ["CancelledError"]


async def test_a_failing_agent_is_still_logged_as_an_error(
    record_factory: str, start_model_server: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_model_server(faults=Faults(fail_all=True, fail_kinds=frozenset({"coder"}), status=400))
    report, records = await a_run(server, tmp_path, caplog, cancel_during_the_coders_call=False)

    assert report.status == "failed"
    assert "BadRequestError" in publish_errors(records)


def runtime_record(message: str, error: BaseException | None, *, name: str = RUNTIME_LOGGER,
                   level: int = logging.ERROR) -> logging.LogRecord:
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
    if error is not None:
        try:
            raise error
        except BaseException:
            info = sys.exc_info()
            assert info[0] is not None and info[1] is not None
            exc_info = (info[0], info[1], info[2])
    return logging.LogRecord(name, level, __file__, 1, message, None, exc_info)


def redacted(record: logging.LogRecord) -> logging.LogRecord:
    """The record as the app's redacting record factory leaves it: the traceback in the message."""
    if record.exc_info:
        record.msg = record.getMessage() + "\n" + logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
    return record


PUBLISH = PUBLISH_ERROR + "Coder_0b1c/0b1c"


@pytest.mark.parametrize("form", [lambda r: r, redacted], ids=["plain", "redacted"])
@pytest.mark.parametrize(
    ("record", "dropped"),
    [
        (lambda: runtime_record(PUBLISH, asyncio.CancelledError()), True),
        (lambda: runtime_record(PUBLISH, asyncio.CancelledError("stopping")), True),
        (lambda: runtime_record(PUBLISH, ValueError("Unhandled message in agent container")), False),
        (lambda: runtime_record(PUBLISH, RuntimeError("asyncio.exceptions.CancelledError")), False),
        (lambda: runtime_record(PUBLISH, None), False),
        (lambda: runtime_record("Error processing send message for Coder", asyncio.CancelledError()), False),
        (lambda: runtime_record(PUBLISH, asyncio.CancelledError(), level=logging.CRITICAL), False),
        (lambda: runtime_record(PUBLISH, asyncio.CancelledError(), name="autogen_agentchat"), False),
    ],
    ids=["cancelled", "cancelled-with-message", "other-error", "other-error-naming-cancel", "no-exception",
         "other-message", "other-level", "other-logger"],
)
def test_the_filter_drops_exactly_a_cancelled_publish(
    record: Callable[[], logging.LogRecord], dropped: bool, form: Callable[[logging.LogRecord], logging.LogRecord]
) -> None:
    assert CancelledPublishFilter().filter(form(record())) is not dropped


def test_the_filter_is_installed_once_with_the_log_levels() -> None:
    runtime = logging.getLogger(RUNTIME_LOGGER)
    for _ in range(3):
        apply_log_levels(False)
        apply_log_levels(True)
    assert sum(isinstance(f, CancelledPublishFilter) for f in runtime.filters) == 1
