"""`run_team` driving the real Magentic-One team, over real HTTP, against a scripted model server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from magentic_tasks.redaction import REDACTED, Redactor
from magentic_tasks.run import ORCHESTRATOR_NAME, RunReport, run_team
from magentic_tasks.schemas import MessageView, TaskInput, TokenUsage
from magentic_tasks.settings import Settings
from tests.support.model_server import Faults, Script, ScriptedModelServer, Usage

# autogen logs each call's `ParsedChatCompletion.model_dump()`, which pydantic warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

Provider = Literal["openai", "azure"]
StartServer = Callable[..., ScriptedModelServer]

PROMPT = "What is 6 * 7?"
OPENAI_KEY = "sk-test-runner-0123456789abcdef"
AZURE_KEY = "azure-test-key-0123456789abcdef"
# A model autogen does not know: no structured output, so the ledger goes through autogen's JSON retries.
CUSTOM_MODEL = "contoso-chat-1"
CUSTOM_MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "family": "unknown",
    "structured_output": False,
}


@pytest.fixture(scope="module", autouse=True)
def _warm_imports() -> None:
    """Pay the openai SDK's lazy imports (about 2 s) before any test that measures time."""
    import openai
    from autogen_ext.models.openai import OpenAIChatCompletionClient  # noqa: F401

    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    assert client.beta.chat.completions is not None and client.chat.completions is not None


def settings_for(provider: Provider, server: ScriptedModelServer, **values: Any) -> Settings:
    """Settings naming only `server` as the model provider; fast retries and a bounded call timeout."""
    values = {"MODEL_MAX_RETRIES": 2, "MODEL_TIMEOUT_SECONDS": 10, **values}
    if provider == "azure":
        return Settings(AZURE_OPENAI_ENDPOINT=server.azure_endpoint, AZURE_OPENAI_API_KEY=AZURE_KEY, **values)
    return Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY=OPENAI_KEY, **values)


@dataclass
class Run:
    report: RunReport
    sunk: list[MessageView]
    sunk_in_batches: list[list[MessageView]]
    final_answer_calls_when_sunk: list[int]
    elapsed: float


async def run(
    settings: Settings,
    server: ScriptedModelServer,
    workspace: Path,
    *,
    provider: Provider = "openai",
    model_name: str = "gpt-4o",
) -> Run:
    task = TaskInput(
        task_id="task-1",
        prompt=PROMPT,
        use_aoai=provider == "azure",
        model_name=model_name,
        created_at=datetime.now(UTC),
    )
    batches: list[list[MessageView]] = []
    final_answer_calls: list[int] = []

    async def sink(views: list[MessageView]) -> None:
        batches.append(list(views))
        final_answer_calls.extend(server.calls_by_kind["final_answer"] for _ in views)

    started = time.monotonic()
    report = await run_team(task, settings, sink, workspace=workspace, redact=Redactor(settings.secrets()))
    return Run(
        report=report,
        sunk=[view for batch in batches for view in batch],
        sunk_in_batches=batches,
        final_answer_calls_when_sunk=final_answer_calls,
        elapsed=time.monotonic() - started,
    )


def as_usage(tokens: TokenUsage) -> Usage:
    return Usage(tokens.prompt_tokens, tokens.completion_tokens)


def assert_tokens_match_server(report: RunReport, server: ScriptedModelServer) -> None:
    assert report.usage.prompt_tokens == server.served_prompt_tokens > 0
    assert report.usage.completion_tokens == server.served_completion_tokens > 0


# ---- runs that complete ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_run_completes_with_scripted_answer(
    provider: Provider, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    result = await run(settings_for(provider, model_server), model_server, tmp_path, provider=provider)
    report = result.report

    assert report.status == "completed", report.error
    assert report.error is None and not report.retryable
    assert report.final_answer == model_server.script.final_answer
    assert report.stop_reason  # the ledger's reason for calling the request satisfied
    sources = [m.source for m in report.messages]
    assert sources == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder", ORCHESTRATOR_NAME]
    assert report.messages[0].content == PROMPT
    assert PROMPT in report.messages[1].content  # the task ledger
    assert report.messages[2].content == model_server.script.instruction
    assert report.messages[3].content == model_server.script.agent_reply
    assert report.messages[4].content == model_server.script.final_answer
    assert all(m.type == "TextMessage" for m in report.messages)
    assert model_server.calls_by_kind == {"facts": 1, "plan": 1, "ledger": 2, "coder": 1, "final_answer": 1}

    # The sink saw every message, in order, while the run was still going.
    assert result.sunk == report.messages
    coder_at = sources.index("Coder")
    assert result.final_answer_calls_when_sunk[coder_at] == 0


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_tokens_reported_are_tokens_served(
    provider: Provider, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    report = (await run(settings_for(provider, model_server), model_server, tmp_path, provider=provider)).report

    assert_tokens_match_server(report, model_server)
    assert set(report.usage_by_agent) == {ORCHESTRATOR_NAME, "Coder"}
    assert as_usage(report.usage_by_agent[ORCHESTRATOR_NAME]) == model_server.served_orchestrator
    assert as_usage(report.usage_by_agent["Coder"]) == model_server.served_for({"coder"})
    assert sum(report.usage_by_agent.values(), TokenUsage()) == report.usage


async def test_azure_requests_name_the_deployment_and_send_the_key(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    settings = settings_for("azure", model_server, OPENAI_API_VERSION="2024-10-21")
    report = (await run(settings, model_server, tmp_path, provider="azure")).report

    assert report.status == "completed", report.error
    assert model_server.requests
    for request in model_server.requests:
        assert request.path == "/openai/deployments/gpt-4o/chat/completions"
        assert request.query["api-version"] == ["2024-10-21"]
        assert request.headers["api-key"] == AZURE_KEY
        assert "authorization" not in request.headers


async def test_openai_requests_send_a_bearer_key(model_server: ScriptedModelServer, tmp_path: Path) -> None:
    report = (await run(settings_for("openai", model_server), model_server, tmp_path)).report

    assert report.status == "completed", report.error
    for request in model_server.requests:
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
        assert request.body["model"] == "gpt-4o"
    # The metered client turns structured output off, so the ledger is asked for in JSON mode
    # (cancellable, retried by the orchestrator, every call counted) even for gpt-4o.
    ledgers = [r for r in model_server.requests if r.kind == "ledger"]
    assert {r.body["response_format"]["type"] for r in ledgers} == {"json_object"}


async def test_stalls_replan_and_the_run_still_completes(start_model_server: StartServer, tmp_path: Path) -> None:
    server = start_model_server(Script(rounds_before_satisfied=3, progress_being_made=False))
    report = (await run(settings_for("openai", server, MAX_STALLS=2), server, tmp_path)).report

    assert report.status == "completed", report.error
    assert report.final_answer == server.script.final_answer
    assert server.calls_by_kind["facts_update"] >= 1 and server.calls_by_kind["plan_update"] >= 1
    assert_tokens_match_server(report, server)
    assert as_usage(report.usage_by_agent[ORCHESTRATOR_NAME]) == server.served_orchestrator


# ---- models autogen does not know ------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_unknown_model_without_model_info_fails_clearly(
    provider: Provider, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    settings = settings_for(provider, model_server)
    report = (await run(settings, model_server, tmp_path, provider=provider, model_name=CUSTOM_MODEL)).report

    assert report.status == "failed"
    assert report.stop_reason == "configuration error"
    assert report.error is not None and "MODEL_INFO" in report.error and CUSTOM_MODEL in report.error
    assert not report.retryable
    assert model_server.calls == 0


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_unknown_model_with_model_info_runs(
    provider: Provider, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    settings = settings_for(provider, model_server, MODEL_INFO=CUSTOM_MODEL_INFO)
    report = (await run(settings, model_server, tmp_path, provider=provider, model_name=CUSTOM_MODEL)).report

    assert report.status == "completed", report.error
    assert report.final_answer == model_server.script.final_answer
    assert_tokens_match_server(report, model_server)
    if provider == "azure":
        assert {r.deployment for r in model_server.requests} == {CUSTOM_MODEL}
    else:
        assert {r.body["model"] for r in model_server.requests} == {CUSTOM_MODEL}
    # json_output without structured_output: a plain JSON-object response format.
    ledgers = [r for r in model_server.requests if r.kind == "ledger"]
    assert [r.body["response_format"] for r in ledgers] == [{"type": "json_object"}] * 2


# ---- failures of the model service -----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 429])
async def test_transient_errors_are_retried_by_the_client(
    status: int, start_model_server: StartServer, tmp_path: Path
) -> None:
    server = start_model_server(faults=Faults(fail_first=2, status=status))
    report = (await run(settings_for("openai", server), server, tmp_path)).report

    assert report.status == "completed", report.error
    assert [(r.kind, r.status) for r in server.requests[:3]] == [("facts", status), ("facts", status), ("facts", 200)]
    assert_tokens_match_server(report, server)  # failed calls cost nothing


async def test_persistent_server_errors_fail_retryably(start_model_server: StartServer, tmp_path: Path) -> None:
    server = start_model_server(faults=Faults(fail_all=True, status=500))
    report = (await run(settings_for("openai", server, MODEL_MAX_RETRIES=2), server, tmp_path)).report

    assert report.status == "failed"
    assert report.retryable
    assert report.stop_reason == "error"
    assert report.error is not None
    assert report.error.startswith("InternalServerError:") and "500" in report.error
    assert "Traceback" not in report.error and "\n" not in report.error
    assert server.calls == 3  # the first try and MODEL_MAX_RETRIES=2 retries
    assert report.usage == TokenUsage()


async def test_agent_errors_surface_without_autogen_traceback(start_model_server: StartServer, tmp_path: Path) -> None:
    """A failing agent turn reaches the runner as autogen's RuntimeError text, traceback appended."""
    server = start_model_server(faults=Faults(fail_all=True, fail_kinds=frozenset({"coder"}), status=503))
    report = (await run(settings_for("openai", server, MODEL_MAX_RETRIES=1), server, tmp_path)).report

    assert report.status == "failed"
    assert report.retryable
    assert report.error is not None and report.error.startswith("InternalServerError:")
    assert "Traceback" not in report.error and 'File "' not in report.error
    assert [m.source for m in report.messages] == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME]
    assert server.calls_by_kind["coder"] == 2
    assert_tokens_match_server(report, server)


async def test_authentication_errors_are_not_retried(start_model_server: StartServer, tmp_path: Path) -> None:
    server = start_model_server(faults=Faults(fail_all=True, status=401))
    report = (await run(settings_for("openai", server), server, tmp_path)).report

    assert report.status == "failed"
    assert not report.retryable
    assert report.error is not None and report.error.startswith("AuthenticationError:") and "401" in report.error
    assert server.calls == 1


# ---- failures of the team --------------------------------------------------------------------


async def test_unparseable_ledger_fails_after_autogens_json_retries(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    server = start_model_server(faults=Faults(broken_ledger_from=0))
    settings = settings_for("openai", server, MODEL_INFO=CUSTOM_MODEL_INFO)
    report = (await run(settings, server, tmp_path, model_name=CUSTOM_MODEL)).report

    assert report.status == "failed"
    assert report.error is not None and "Failed to parse ledger" in report.error
    assert not report.retryable
    assert server.calls_by_kind["ledger"] == 10  # the orchestrator's own retry limit
    assert_tokens_match_server(report, server)


async def test_unparseable_ledger_keeps_the_partial_transcript(start_model_server: StartServer, tmp_path: Path) -> None:
    script = Script(rounds_before_satisfied=5)
    server = start_model_server(script, Faults(broken_ledger_from=1))
    settings = settings_for("openai", server, MODEL_INFO=CUSTOM_MODEL_INFO)
    result = await run(settings, server, tmp_path, model_name=CUSTOM_MODEL)
    report = result.report

    assert report.status == "failed"
    assert report.error is not None and "Failed to parse ledger" in report.error
    assert "Traceback" not in report.error
    assert [m.source for m in report.messages] == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder"]
    assert report.messages[-1].content == script.agent_reply
    assert result.sunk == report.messages
    assert report.final_answer is None
    assert_tokens_match_server(report, server)


async def test_a_malformed_ledger_from_a_structured_output_model_is_retried_and_counted(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    """gpt-4o supports structured output, which would make the SDK's parser raise on the first
    malformed ledger with that call's tokens lost; the run uses JSON mode instead."""
    server = start_model_server(faults=Faults(broken_ledger_from=0))
    report = (await run(settings_for("openai", server), server, tmp_path)).report

    assert report.status == "failed"
    assert report.error is not None and "Failed to parse ledger" in report.error
    assert not report.retryable
    assert server.calls_by_kind["ledger"] == 10
    assert [m.source for m in report.messages] == ["user"]
    assert_tokens_match_server(report, server)


async def test_a_run_past_its_deadline_completes_with_the_orchestrators_last_answer(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    latency, timeout, turns = 0.2, 2.0, 100
    script = Script(rounds_before_satisfied=10_000)
    server = start_model_server(script, Faults(latency=latency, notice_hangups=True))  # the call cut off: not served
    settings = settings_for(
        "openai", server, TASK_TIMEOUT_SECONDS=timeout, MAX_TURNS=turns, FINAL_ANSWER_MAX_TOKENS=300
    )
    result = await run(settings, server, tmp_path)
    report = result.report

    assert (report.status, report.stop_reason, report.error) == ("completed", "timeout", None)
    assert report.final_answer == script.final_answer
    assert report.messages[-1] == MessageView(source=ORCHESTRATOR_NAME, content=script.final_answer, type="TextMessage")
    (asked,) = [r for r in server.requests if r.kind == "final_answer"]
    assert asked.body["max_tokens"] == 300  # its own bounded allowance
    # Unbounded, the run would take about 2 * turns * latency = 40 s; it stops within one call of the
    # deadline, then asks once more.
    assert timeout <= result.elapsed < timeout + 5 * latency + 0.5
    assert result.sunk == report.messages
    assert_tokens_match_server(report, server)  # the last answer is counted like any call


async def test_timeout_fails_promptly_and_keeps_the_transcript_without_a_last_answer(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    latency, timeout, turns = 0.2, 2.0, 100
    server = start_model_server(Script(rounds_before_satisfied=10_000), Faults(latency=latency))
    settings = settings_for("openai", server, TASK_TIMEOUT_SECONDS=timeout, MAX_TURNS=turns, FINAL_ANSWER_SECONDS=0)
    result = await run(settings, server, tmp_path)
    report = result.report

    assert report.status == "failed"
    assert report.stop_reason == "timeout"
    assert report.error is not None and "TASK_TIMEOUT_SECONDS" in report.error
    assert not report.retryable
    assert timeout <= result.elapsed < timeout + 4 * latency + 0.5
    assert result.sunk == report.messages
    assert [m.source for m in report.messages[:4]] == ["user", ORCHESTRATOR_NAME, ORCHESTRATOR_NAME, "Coder"]
    assert report.final_answer is None
    assert server.calls_by_kind["final_answer"] == 0


async def test_a_last_answer_the_model_refuses_leaves_the_run_failed_at_its_deadline(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    faults = Faults(latency=0.2, fail_all=True, fail_kinds=frozenset({"final_answer"}), status=400, notice_hangups=True)
    server = start_model_server(Script(rounds_before_satisfied=10_000), faults)
    settings = settings_for("openai", server, TASK_TIMEOUT_SECONDS=2.0, MAX_TURNS=100)
    report = (await run(settings, server, tmp_path)).report

    assert (report.status, report.stop_reason, report.final_answer) == ("failed", "timeout", None)
    assert server.calls_by_kind["final_answer"] == 1
    assert_tokens_match_server(report, server)


async def test_a_timeout_in_the_first_round_still_keeps_the_prompt(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    """The deadline passes while the orchestrator is still gathering facts: autogen has handed over
    no message yet, and the transcript still shows what was asked."""
    server = start_model_server(faults=Faults(latency=1.0))
    result = await run(settings_for("openai", server, TASK_TIMEOUT_SECONDS=0.3), server, tmp_path)

    assert result.report.stop_reason == "timeout"
    assert [(m.source, m.content) for m in result.report.messages] == [("user", PROMPT)]
    assert result.sunk == result.report.messages


async def test_token_budget_stops_the_run_then_the_last_answer_is_asked_once(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    budget = 1500
    script = Script(rounds_before_satisfied=10_000)
    server = start_model_server(script)
    settings = settings_for("openai", server, MAX_TOKENS_PER_TASK=budget, MAX_TURNS=100)
    report = (await run(settings, server, tmp_path)).report

    assert (report.status, report.stop_reason, report.final_answer) == (
        "completed", "token budget exhausted", script.final_answer)
    assert not report.retryable
    assert_tokens_match_server(report, server)
    # Calls stop as soon as the budget is spent (every call but the last of the team began under
    # budget); then exactly one more, the last answer, past the budget.
    team_calls = server.answered[:-1]
    spent = [sum((r.usage for r in team_calls[: i + 1] if r.usage), Usage()).total for i in range(len(team_calls))]
    assert spent[-1] >= budget
    assert all(total < budget for total in spent[:-1])
    assert server.answered[-1].kind == "final_answer" and server.calls_by_kind["final_answer"] == 1
    assert server.calls == len(server.answered)


async def test_token_budget_stops_the_run_without_a_last_answer(
    start_model_server: StartServer, tmp_path: Path
) -> None:
    budget = 1500
    server = start_model_server(Script(rounds_before_satisfied=10_000))
    settings = settings_for("openai", server, MAX_TOKENS_PER_TASK=budget, MAX_TURNS=100, FINAL_ANSWER_SECONDS=0)
    report = (await run(settings, server, tmp_path)).report

    assert report.status == "failed"
    assert report.stop_reason == "token budget exhausted"
    assert report.error is not None and "MAX_TOKENS_PER_TASK=1500" in report.error
    assert not report.retryable
    assert_tokens_match_server(report, server)
    spent = [
        sum((r.usage for r in server.answered[: i + 1] if r.usage), Usage()).total for i in range(len(server.answered))
    ]
    assert spent[-1] >= budget
    assert all(total < budget for total in spent[:-1])
    assert server.calls == len(server.answered)


# ---- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_api_key_echoed_by_the_server_is_scrubbed(
    provider: Provider, start_model_server: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Keys that look like nothing in particular: only the settings' own secrets can catch them.
    key = "canary-Openai-7f3a9b2c4d5e6f70" if provider == "openai" else "canary-Azure-7f3a9b2c4d5e6f70"
    # The model repeats the key in an instruction, and the server echoes it in the Coder's error.
    server = start_model_server(
        Script(instruction=f"Use the key {key} to call the API."),
        Faults(fail_all=True, fail_kinds=frozenset({"coder"}), echo_credentials=True, canary=key),
    )
    values: dict[str, Any] = {"MODEL_MAX_RETRIES": 0}
    if provider == "azure":
        settings = Settings(AZURE_OPENAI_ENDPOINT=server.azure_endpoint, AZURE_OPENAI_API_KEY=key, **values)
    else:
        settings = Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY=key, **values)
    with caplog.at_level(logging.INFO, logger="magentic_tasks"):
        result = await run(settings, server, tmp_path, provider=provider)
    report = result.report

    assert report.status == "failed"
    assert report.error is not None and REDACTED in report.error
    assert report.messages[-1].content == f"Use the key {REDACTED} to call the API."
    texts = [report.error, *(m.content for m in report.messages), *(m.content for m in result.sunk)]
    texts += [r.getMessage() for r in caplog.records if r.name.startswith("magentic_tasks")]
    assert all(key not in text for text in texts)
    assert server.requests[-1].status == 500  # the server did echo it


# ---- the scripted server itself --------------------------------------------------------------


async def test_server_streams_with_a_final_usage_chunk(model_server: ScriptedModelServer) -> None:
    from autogen_core.models import CreateResult, UserMessage
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(model="gpt-4o", base_url=model_server.base_url, api_key=OPENAI_KEY)
    try:
        items = [
            item
            async for item in client.create_stream([UserMessage(content="hello", source="user")], include_usage=True)
        ]
    finally:
        await client.close()

    result = items[-1]
    assert isinstance(result, CreateResult)
    assert result.content == model_server.script.agent_reply == "".join(i for i in items if isinstance(i, str))
    assert Usage(result.usage.prompt_tokens, result.usage.completion_tokens) == model_server.served
    assert model_server.requests[0].body["stream_options"] == {"include_usage": True}
