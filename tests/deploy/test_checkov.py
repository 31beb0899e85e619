"""checkov's static security scan of infra/: no failed check, and every skip says why in place."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from typing import Any

from tests.deploy.tooling import ROOT, deploy_tool


@cache
def scan() -> dict[str, Any]:
    checkov = deploy_tool("checkov")
    done = subprocess.run(
        [str(checkov), "--directory", "infra", "--framework", "bicep", "--output", "json", "--skip-download"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_no_check_fails() -> None:
    failed = [(f["check_id"], f["resource"], f["file_path"]) for f in scan()["results"]["failed_checks"]]
    assert not failed, f"checkov findings to fix or skip with a reason (// checkov:skip=ID: why): {failed}"


def test_every_file_was_scanned() -> None:
    # A file checkov cannot parse is left out of the results silently: count what it scanned.
    summary = scan()["summary"]
    assert summary["parsing_errors"] == 0
    results = scan()["results"]
    scanned = {f["file_path"].lstrip("/") for kind in ("passed_checks", "skipped_checks") for f in results[kind]}
    # The files with the resources checkov has checks for: the app, the storage accounts, the model.
    assert {"modules/function.bicep", "modules/storage.bicep", "modules/openai.bicep"} <= scanned


def test_every_skip_gives_a_reason() -> None:
    skipped = scan()["results"]["skipped_checks"]
    assert skipped, "expected the documented skips (docs/deploy.md) to be reported"
    vague = [f["check_id"] for f in skipped if len(f["check_result"].get("suppress_comment", "").strip()) < 30]
    assert not vague, f"checkov skips without a real reason: {vague}"
