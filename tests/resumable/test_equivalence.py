"""A run killed after any round and resumed in a fresh process sends exactly the model requests of
an uninterrupted run and ends with the same transcript: this pins `magentic_tasks.resumable` (its
subclasses touch private autogen APIs) to autogen-agentchat / autogen-ext 0.7.5.

Each run is a subprocess (`run_once`) against one scripted model server over real HTTP, with real
SQLite: the killed process dies with `os._exit` right after a checkpoint commits, and the resumed
one knows only what the shared file holds. A run does not wait for its checkpoint to be written:
the next round's first call may already be on its way when the process dies, as any call in
flight at a kill is. The server holds that call unanswered, so the killed process dies with it
in flight (never answered, never billed), and the resumed run makes it again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.store import TaskStore
from tests.resumable.run_once import KILLED, TASK_ID
from tests.support.model_server import Faults, Script, ScriptedModelServer

ROOT = Path(__file__).resolve().parents[2]
CODE = "```python\nprint(6 * 7)\n```"


@dataclass(frozen=True)
class Scenario:
    script: Script
    rounds: int  # agent turns an uninterrupted run takes
    env: tuple[tuple[str, str], ...] = ()


SCENARIOS = {
    "coder": Scenario(Script(rounds_before_satisfied=3), 3),
    # Ledgers 1 and 2 see no progress: after round 2 the orchestrator gathers facts and plans again
    # (MAX_STALLS=2), then the Coder takes rounds 3 and 4.
    "stall": Scenario(Script(rounds_before_satisfied=5, no_progress_at=frozenset({1, 2})), 4, (("MAX_STALLS", "2"),)),
    "file_surfer": Scenario(Script(rounds_before_satisfied=2, next_speaker="FileSurfer"), 2),
    "code": Scenario(Script(rounds_before_satisfied=2, next_speaker="ComputerTerminal",
                            instruction=f"Run this:\n{CODE}"), 2, (("CODE_EXECUTOR", "local"),)),
}


@dataclass
class Ran:
    outcome: dict[str, Any] | None
    returncode: int


def run_once(folder: Path, server: ScriptedModelServer, scenario: Scenario, *args: str) -> Ran:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
        "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-resumable-0123456789",
        "TASKS_DB_PATH": str(folder / "tasks.db"), "TASK_WORKSPACE_ROOT": str(folder / "workspaces"),
        "MODEL_MAX_RETRIES": "0", "RUN_LEASE_SECONDS": "2",  # the killed run's lease is soon a dead run's
        **dict(scenario.env),
    }
    done = subprocess.run([sys.executable, "-m", "tests.resumable.run_once", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode not in (0, KILLED):
        raise AssertionError(done.stderr[-3000:])
    return Ran(json.loads(done.stdout) if done.returncode == 0 else None, done.returncode)


def killed_after_round(
    folder: Path, server: ScriptedModelServer, scenario: Scenario, k: int, whole_log: list[Any], *args: str
) -> Ran:
    """Run until round k's checkpoint commits, then die. Round k + 1 begins with the progress ledger
    that follows the k-th one naming a speaker (one followed by a re-plan or the final answer names
    none): that call, if the run sends it (or part of it) before dying, waits unanswered and is
    abandoned once the process is gone; every later call is answered as usual."""
    ledgers = [i for i, (kind, _) in enumerate(whole_log) if kind == "ledger"]
    naming = [i for i in ledgers if whole_log[i + 1][0] not in ("facts_update", "final_answer")]
    first_of_next_round = next(i for i in ledgers if i > naming[k - 1])
    server.set_faults(Faults(hold_after=first_of_next_round, latency=0.001, notice_hangups=True))
    killed = run_once(folder, server, scenario, "--kill-after-round", str(k), *args)
    server.release_all()
    deadline = time.monotonic() + 30
    while server.connections:  # the dead process's connections are handled: its call in flight abandoned
        assert time.monotonic() < deadline, "the killed run's connections were never closed"
        time.sleep(0.01)
    # The one call it may have had in flight is round k + 1's first (its body cut short, maybe).
    assert [i for i, r in enumerate(server.requests) if r.abandoned] in ([], [first_of_next_round])
    return killed


def answered(server: ScriptedModelServer, log: list[Any]) -> list[Any]:
    """The log without the calls abandoned unanswered (at most the one in flight at a kill)."""
    abandoned = [r.abandoned for r in server.requests]
    assert sum(abandoned) <= 1
    return [entry for entry, gone in zip(log, abandoned, strict=True) if not gone]


def request_log(server: ScriptedModelServer, folder: Path) -> list[tuple[str | None, str]]:
    """Each request's kind and body (the run's own temporary folder, which the FileSurfer names, masked)."""
    return [(r.kind, json.dumps(r.body, sort_keys=True).replace(str(folder), "<folder>")) for r in server.requests]


def transcript(outcome: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["source"], m["type"], m["content"]) for m in outcome["messages"]]


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Ran, list[Any], int]]:
    """Each scenario run once without a kill: its outcome, request log and tokens served."""
    runs = {}
    for name, scenario in SCENARIOS.items():
        with ScriptedModelServer(scenario.script) as server:
            folder = tmp_path_factory.mktemp(name)
            ran = run_once(folder, server, scenario)
            runs[name] = (ran, request_log(server, folder), server.served.total)
    return runs


CASES = [(name, k) for name, scenario in SCENARIOS.items() for k in range(1, scenario.rounds + 1)]


@pytest.mark.parametrize(("name", "k"), CASES, ids=[f"{name}-killed-after-round-{k}" for name, k in CASES])
def test_a_run_killed_after_round_k_resumes_to_the_same_requests_and_transcript(
    name: str, k: int, tmp_path: Path, uninterrupted: dict[str, tuple[Ran, list[Any], int]]
) -> None:
    scenario = SCENARIOS[name]
    whole, whole_log, _ = uninterrupted[name]
    assert whole.outcome is not None and whole.outcome["status"] == "completed"
    with ScriptedModelServer(scenario.script) as server:
        killed = killed_after_round(tmp_path, server, scenario, k, whole_log)
        answered_before_resume = len(answered(server, server.requests))
        resumed = run_once(tmp_path, server, scenario)
        log, served = answered(server, request_log(server, tmp_path)), server.served.total

    assert killed.returncode == KILLED and resumed.outcome is not None
    # Not one answered model call made twice, none left out, each byte-identical (the call in flight
    # at the kill, if any, was round k + 1's first: the resumed run made it again).
    assert log == whole_log
    assert answered_before_resume < len(whole_log)  # the kill really came before the end
    assert transcript(resumed.outcome) == transcript(whole.outcome)
    assert resumed.outcome["final_answer"] == whole.outcome["final_answer"] is not None
    outcome = resumed.outcome
    # Every token served, counted once (the prompts name the run's own folder, so sizes differ by its length).
    assert outcome["prompt_tokens"] + outcome["completion_tokens"] == served
    if name == "stall":  # the orchestrator did gather facts and plan again, before or after the kill
        assert [kind for kind, _ in log].count("plan_update") == 1
    db = tmp_path / "tasks.db"
    own = TaskStore(db).task_file(TASK_ID)  # the run's checkpoints and transcript are in the task's own file
    assert rows(own, "SELECT COUNT(*) FROM checkpoints") == [(0,)]  # a finished run is never resumed
    # The stream: the resumed attempt restated the transcript up to the checkpoint, once, in order.
    positions = rows(own, "SELECT position FROM messages ORDER BY position")
    assert [p for (p,) in positions] == list(range(len(positions)))
    final = rows(db, f"SELECT final_attempt FROM tasks WHERE task_id = '{TASK_ID}'")
    assert final == [(2,)]


def test_the_tokens_of_a_lost_partial_round_are_counted(tmp_path: Path) -> None:
    scenario = SCENARIOS["coder"]
    # Slow answers, and none for a client that hung up: the call in flight when the process dies is not billed.
    with ScriptedModelServer(scenario.script, Faults(latency=0.3, notice_hangups=True)) as server:
        killed = run_once(tmp_path, server, scenario, "--kill-in-round", "1")  # dies after round 2's ledger
        lost = server.calls_by_kind["ledger"]
        resumed = run_once(tmp_path, server, scenario)
        served = server.served.total

    assert killed.returncode == KILLED and resumed.outcome is not None
    assert lost == 2 and server.calls_by_kind["ledger"] > lost  # round 2's ledger was lost, and asked again
    outcome = resumed.outcome
    assert outcome["status"] == "completed"
    assert outcome["prompt_tokens"] + outcome["completion_tokens"] == served  # the lost ledger's tokens too
    sources = [m["source"] for m in outcome["messages"]]
    assert sources.count("user") == 1 and len(outcome["messages"]) == len(set(
        (i, m["source"], m["content"]) for i, m in enumerate(outcome["messages"])))
