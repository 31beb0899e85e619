"""The app under the real Functions host: `func start` with Azurite, against the scripted model.

Needs Azure Functions Core Tools (`func`) and Azurite listening on 127.0.0.1:10000-10002, which
cannot be installed on the machines that build this project; set FUNC_E2E=1 where they exist.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.model_server import ScriptedModelServer

ROOT = Path(__file__).resolve().parents[2]
PORT = 7181

pytestmark = [
    pytest.mark.e2e_func,
    pytest.mark.skipif(os.environ.get("FUNC_E2E") != "1", reason="needs Core Tools and Azurite; set FUNC_E2E=1"),
]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def venv_environment() -> dict[str, str]:
    """Make Core Tools run the worker on this test's interpreter (the project's .venv).

    Core Tools otherwise starts the worker with the first `python3` on PATH, which has none of the
    app's requirements. The host reads the worker's interpreter from
    `languageWorkers__python__defaultExecutablePath`; an activated venv (PATH, VIRTUAL_ENV) is what
    Core Tools' own version check looks at."""
    venv = Path(sys.prefix)
    return {
        "languageWorkers__python__defaultExecutablePath": sys.executable,
        "VIRTUAL_ENV": str(venv),
        "PATH": os.pathsep.join((str(venv / "bin"), os.environ.get("PATH", ""))),
    }


@pytest.fixture(scope="module")
def func_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedModelServer]:
    if shutil.which("func") is None:
        pytest.fail("FUNC_E2E=1 but Core Tools ('func') is not on PATH")
    if not all(listening(port) for port in (10000, 10001, 10002)):
        pytest.fail("FUNC_E2E=1 but Azurite is not listening on 10000-10002")
    data = tmp_path_factory.mktemp("func")
    with ScriptedModelServer() as model:
        env = {
            **os.environ,
            **venv_environment(),
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "HTTP_AUTH_LEVEL": "anonymous",
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-func-e2e-key-0000000000",
            "TASKS_DB_PATH": str(data / "tasks.db"),
            "TASK_WORKSPACE_ROOT": str(data / "workspaces"),
        }
        host = subprocess.Popen(["func", "start", "--port", str(PORT)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while not listening(PORT):
                if host.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"func start did not come up:\n{host.stdout.read() if host.stdout else ''}")
                time.sleep(1)
            yield model
        finally:
            host.terminate()
            host.wait(timeout=30)


def test_a_task_runs_under_the_real_host(func_host: ScriptedModelServer) -> None:
    status, created = call("POST", "/tasks", {"prompt": "What is 2+2?", "use_aoai": False})
    assert status == 202 and created["status"] == "pending"
    task_id = created["task_id"]
    deadline = time.monotonic() + 120
    while True:
        status, body = call("GET", f"/tasks/{task_id}")
        assert status == 200
        if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert body["status"] == "completed"
    status, result = call("GET", f"/tasks/{task_id}/result")
    assert status == 200
    assert result["result"]["task_result"]["final_answer"]
    served = func_host.served
    assert (result["prompt_tokens"], result["completion_tokens"]) == (served.prompt_tokens, served.completion_tokens)


def test_bad_input_and_unknown_ids_under_the_real_host(func_host: ScriptedModelServer) -> None:
    assert call("POST", "/tasks", {"use_aoai": False})[0] == 422
    assert call("GET", "/tasks/no-such-task") == (404, {"detail": "Task not found"})
