"""The GitHub workflows and the dev container, read as GitHub and VS Code would read them."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.deploy.tooling import ROOT, parse_yaml

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = parse_yaml(WORKFLOWS / name)[f".github/workflows/{name}"]
    # YAML 1.1 reads the bare key `on` as the boolean true (JSON "true" after the subprocess).
    if "true" in spec:
        spec["on"] = spec.pop("true")
    return spec


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def test_ci_runs_the_test_script_on_every_push_on_both_supported_pythons() -> None:
    ci = workflow("ci.yml")
    assert "push" in ci["on"]
    (job,) = ci["jobs"].values()
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    setup = next(step for step in steps(job) if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    runs = [step for step in steps(job) if "run" in step]
    assert [step["run"].strip() for step in runs] == ["./scripts/test.sh"]
    # test.sh builds .venv with $PYTHON: it must be the matrix interpreter, not the runner's python3.
    assert runs[0]["env"]["PYTHON"] == "python"


def test_the_real_host_suite_is_optional_and_runs_func_e2e() -> None:
    e2e = workflow("func-e2e.yml")
    assert set(e2e["on"]) == {"workflow_dispatch"}
    commands = "\n".join(step.get("run", "") for job in e2e["jobs"].values() for step in steps(job))
    assert "FUNC_E2E=1 ./scripts/test.sh tests/func_e2e" in commands
    assert "azure-functions-core-tools@4" in commands and "azurite" in commands


def test_deploy_uses_oidc_with_ids_from_variables_and_no_secrets() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["permissions"]["id-token"] == "write"
    (job,) = deploy["jobs"].values()
    login = next(step for step in steps(job) if step.get("uses", "").startswith("azure/login@"))
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    commands = "\n".join(step.get("run", "") for step in steps(job))
    assert "--federated-credential-provider github" in commands and "azd up --no-prompt" in commands


def test_no_workflow_reads_a_secret() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        assert not re.search(r"\bsecrets\.", path.read_text()), f"{path.name} reads a secret; use OIDC and vars"


def test_the_dev_container_has_python_311_core_tools_and_azurite() -> None:
    spec = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert re.search(r"python:\d+-3\.11-", spec["image"])
    assert any("/node:" in feature for feature in spec["features"])
    post_create = spec["postCreateCommand"]
    assert "azure-functions-core-tools@4" in post_create and "azurite" in post_create
    assert "requirements-dev.txt" in post_create
    assert 7071 in spec["forwardPorts"] and 10000 in spec["forwardPorts"]
