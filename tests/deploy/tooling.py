"""The deployment tools live in `.venv-deploy` (requirements-deploy.txt); these tests call them there.

`scripts/test.sh` creates that virtualenv, so CI never skips; a bare `pytest` without it skips with
the reason. Parsing goes through a subprocess that prints JSON, one call for all files.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DEPLOY_VENV = ROOT / ".venv-deploy"
DEPLOY_PYTHON = DEPLOY_VENV / "bin" / "python"

_PARSE_BICEP = """
import json, sys
from pathlib import Path
from pycep import BicepParser
parser = BicepParser()
print(json.dumps({name: parser.parse(file_path=Path(name)) for name in sys.argv[1:]}, default=str))
"""

_PARSE_YAML = """
import json, sys, yaml
print(json.dumps({name: yaml.safe_load(open(name, encoding="utf-8")) for name in sys.argv[1:]}, default=str))
"""


def require_deploy_venv() -> None:
    if not DEPLOY_PYTHON.exists():
        pytest.skip(".venv-deploy is absent: run ./scripts/test.sh, which installs requirements-deploy.txt there")


def deploy_tool(name: str) -> Path:
    require_deploy_venv()
    return DEPLOY_VENV / "bin" / name


def _run_json(script: str, files: tuple[Path, ...]) -> dict[str, Any]:
    require_deploy_venv()
    names = [str(path.relative_to(ROOT)) for path in files]
    done = subprocess.run(
        [str(DEPLOY_PYTHON), "-c", script, *names], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"parsing {names} failed:\n{done.stderr[-3000:]}"
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def bicep_files() -> tuple[Path, ...]:
    return tuple(sorted(INFRA.rglob("*.bicep")))


@cache
def parsed_bicep() -> dict[str, Any]:
    """Every Bicep file under infra/ parsed by pycep-parser, keyed by its path from the repo root."""
    return _run_json(_PARSE_BICEP, bicep_files())


def bicep(relative: str) -> dict[str, Any]:
    tree: dict[str, Any] = parsed_bicep()[relative]
    return tree


def parse_yaml(*files: Path) -> dict[str, Any]:
    """YAML files parsed by the PyYAML pinned in .venv-deploy (the app's .venv has no YAML parser)."""
    return _run_json(_PARSE_YAML, files)
