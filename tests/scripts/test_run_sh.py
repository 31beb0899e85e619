"""scripts/run.sh's checks, run for real in a scratch copy of the project with fake `func`,
`azurite` and Python interpreters on PATH (tiny shell scripts that record how they were called)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="run.sh is a bash script")


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)
    return path


def fake_python(path: Path, version: str | None = None) -> Path:
    """A real interpreter, or one that claims to be `version` when asked (and can do nothing else)."""
    if version is None:
        return write_script(path, f'exec "{sys.executable}" "$@"\n')
    major, minor = version.split(".")
    return write_script(path, f'echo "{major}.{minor}"\n')


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "fake-bin"
        (root / "scripts").mkdir(parents=True)
        shutil.copy(ROOT / "scripts" / "run.sh", root / "scripts" / "run.sh")
        shutil.copy(ROOT / "local.settings.json.example", root / "local.settings.json.example")
        (root / "requirements.txt").write_text("# nothing to install in this scratch copy\n")
        write_script(self.bin / "func", 'printf "%s\\n" "$*" > "$RECORD/func.args"\nenv > "$RECORD/func.env"\n')
        write_script(self.bin / "azurite", 'printf "%s\\n" "$*" > "$RECORD/azurite.args"\n')
        self.record = root / "record"
        self.record.mkdir()

    def venv(self, version: str | None = None) -> None:
        """A .venv whose requirements are already installed (run.sh's stamp matches)."""
        fake_python(self.root / ".venv" / "bin" / "python", version)
        digest = hashlib.sha256((self.root / "requirements.txt").read_bytes()).hexdigest()
        (self.root / ".venv" / ".runtime-requirements.sha").write_text(digest + "\n")

    def settings(self, **values: str) -> None:
        example = json.loads((self.root / "local.settings.json.example").read_text())
        example["Values"].update(values)
        (self.root / "local.settings.json").write_text(json.dumps(example))

    def run(self, *, with_func: bool = True, python: Path | None = None) -> subprocess.CompletedProcess[str]:
        path = [str(self.bin)] if with_func else []
        # A PATH without the fake bin (and without any real func) for the "not installed" case.
        path += ["/usr/bin", "/bin"]
        env = {
            "PATH": os.pathsep.join(path),
            "HOME": str(self.root),
            "RECORD": str(self.record),
            "PYTHON": str(python or fake_python(self.root / "py" / "python3")),
        }
        if not with_func:
            (self.bin / "func").unlink()
        command = ["bash", "scripts/run.sh", "--port", "7999"]
        return subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=60)

    @property
    def func_called(self) -> bool:
        return (self.record / "func.args").exists()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "app")


def test_without_core_tools_it_says_how_to_install_them(project: Project) -> None:
    if shutil.which("func", path="/usr/bin:/bin"):
        pytest.skip("a real func is installed in /usr/bin or /bin")
    done = project.run(with_func=False)
    assert done.returncode == 1
    assert "Core Tools ('func') is not installed" in done.stderr
    assert "npm install -g azure-functions-core-tools@4" in done.stderr


def test_first_run_creates_the_settings_and_stops_to_ask_for_a_model(project: Project) -> None:
    project.venv()
    done = project.run()
    assert done.returncode == 1
    assert (project.root / "local.settings.json").exists()
    assert "created local.settings.json" in done.stderr
    assert "AZURE_OPENAI_ENDPOINT" in done.stderr and "OPENAI_BASE_URL" in done.stderr
    assert not project.func_called


def test_settings_without_any_model_stop_before_func_start(project: Project) -> None:
    project.venv()
    project.settings(AZURE_OPENAI_API_KEY="a-key-but-no-endpoint", OPENAI_BASE_URL="   ")
    done = project.run()
    assert done.returncode == 1 and "no model is configured" in done.stderr
    assert "created local.settings.json" not in done.stderr
    assert not project.func_called


def test_a_venv_of_an_unsupported_python_is_not_used(project: Project) -> None:
    project.venv("3.9")
    project.settings(OPENAI_BASE_URL="http://127.0.0.1:11434/v1")
    done = project.run(python=fake_python(project.root / "py" / "python3", "3.10"))
    assert done.returncode == 1
    assert ".venv was built by Python 3.9" in done.stderr and "3.11 or 3.12" in done.stderr
    assert not project.func_called


def test_a_configured_project_starts_func_with_the_venv_python_and_azurite_without_telemetry(project: Project) -> None:
    project.venv()
    project.settings(OPENAI_BASE_URL="http://127.0.0.1:11434/v1")
    done = project.run()
    assert done.returncode == 0, done.stderr
    assert (project.record / "func.args").read_text().split() == ["start", "--port", "7999"]
    env = dict(line.split("=", 1) for line in (project.record / "func.env").read_text().splitlines() if "=" in line)
    venv_python = str(project.root / ".venv" / "bin" / "python")
    assert env["languageWorkers__python__defaultExecutablePath"] == venv_python
    assert env["PATH"].split(os.pathsep)[0] == str(project.root / ".venv" / "bin")
    azurite = project.record / "azurite.args"
    if azurite.exists():  # not started when something already listens on 10000
        assert "--disableTelemetry" in azurite.read_text().split()
