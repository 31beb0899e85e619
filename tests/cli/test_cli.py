"""`python -m magentic_tasks run`: the real team over real HTTP against the scripted model server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from magentic_tasks.cli import main
from magentic_tasks.store import TaskStore
from tests.support.model_server import Faults, ScriptedModelServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_model_env: None) -> Path:
    path = tmp_path / "tasks.db"
    monkeypatch.setenv("TASKS_DB_PATH", str(path))
    monkeypatch.setenv("TASK_WORKSPACE_ROOT", str(tmp_path / "workspaces"))
    monkeypatch.setenv("MODEL_MAX_RETRIES", "0")
    monkeypatch.setenv("MODEL_TIMEOUT_SECONDS", "10")
    return path


@pytest.fixture
def openai_env(db: Path, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedModelServer:
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    return model_server


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_completed_run_prints_each_message_then_the_answer_and_mirrors_it(openai_env: ScriptedModelServer) -> None:
    code, out, err = run_cli("run", "What is 6 * 7?", "--openai")
    assert code == 0, err
    assert "── round 0 · user" in out and "What is 6 * 7?" in out
    assert "── round 1 · Coder" in out and "6 * 7 = 42" in out
    served = openai_env.served
    summary = out.strip().splitlines()
    assert f"{served.prompt_tokens}+{served.completion_tokens} tokens" in out
    assert summary[-1] == "SCRIPTED-FINAL-ANSWER: the result is 42."
    # Tokens are shown as they are spent: the Coder's header already counts the orchestrator's calls.
    coder_header = next(line for line in out.splitlines() if line.startswith("── round 1 · Coder"))
    assert " 0 tokens" not in coder_header
    task_id = out.split()[1].rstrip(":")
    stored = TaskStore(os.environ["TASKS_DB_PATH"]).get_task(task_id)
    assert stored is not None and stored.status == "completed"


def test_json_prints_one_document_with_the_result(openai_env: ScriptedModelServer) -> None:
    code, out, _ = run_cli("run", "What is 6 * 7?", "--openai", "--model", "gpt-4o", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "completed" and doc["final_answer"] == "SCRIPTED-FINAL-ANSWER: the result is 42."
    assert (doc["model_name"], doc["use_aoai"]) == ("gpt-4o", False)
    # A round is one progress-ledger step of the orchestrator; the last one gives the final answer.
    assert doc["rounds"] == openai_env.calls_by_kind["ledger"] == 2
    assert doc["prompt_tokens"] == openai_env.served.prompt_tokens
    assert doc["completion_tokens"] == openai_env.served.completion_tokens
    assert set(doc["usage_by_agent"]) >= {"MagenticOneOrchestrator", "Coder"}
    assert [m["source"] for m in doc["messages"]][:2] == ["user", "MagenticOneOrchestrator"]
    assert all(set(m) == {"source", "content", "type"} for m in doc["messages"])
    assert doc["error"] is None and doc["task_id"].startswith("cli-")


def test_a_failing_model_exits_1_with_the_reason(
    db: Path, start_model_server: Callable[..., ScriptedModelServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_model_server(faults=Faults(fail_all=True, status=500))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    code, out, _ = run_cli("run", "What is 6 * 7?", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "failed" and "InternalServerError" in doc["error"]


def test_an_unauthorised_model_exits_1_without_retrying(
    db: Path, start_model_server: Callable[..., ScriptedModelServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_model_server(faults=Faults(fail_all=True, status=401))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    code, _, err = run_cli("run", "What is 6 * 7?")
    assert code == 1 and err.startswith("failed (error):")


def test_no_model_configured_exits_2_and_says_what_to_set(db: Path) -> None:
    code, out, err = run_cli("run", "What is 6 * 7?")
    assert code == 2 and out == ""
    assert "Azure OpenAI is not configured on this server (set AZURE_OPENAI_ENDPOINT)" in err
    code, _, err = run_cli("run", "What is 6 * 7?", "--openai")
    assert code == 2 and "set OPENAI_API_KEY or OPENAI_BASE_URL" in err


def test_bad_arguments_exit_2(openai_env: ScriptedModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli("run", "   ")
    assert code == 2 and err.startswith("error: prompt:")
    with pytest.raises(SystemExit) as exit_info:
        run_cli("run", "hi", "--azure", "--openai")
    assert exit_info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert openai_env.calls == 0


def test_the_module_entry_point_runs_the_cli(db: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH"}}
    done = subprocess.run(
        [sys.executable, "-m", "magentic_tasks", "run", "hello", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "is not configured" in done.stderr
