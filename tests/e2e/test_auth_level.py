"""HTTP_AUTH_LEVEL is read through `Settings`, once, when the worker indexes the app; a broken
unrelated setting does not stop indexing: the HTTP functions then keep requiring a function key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUTH_LEVELS = (
    "import function_app; fns = function_app.app.get_functions(); "
    "print(sorted({str(f.get_trigger().get_dict_repr().get('authLevel')) "
    "for f in fns if f.get_trigger().get_dict_repr()['type'] == 'httpTrigger' "
    "and not f.get_function_name().startswith('console_')}), len(fns))"
)  # the console's static files are anonymous by design (starters/console.py)


def index_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AUTH_LEVELS], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_anonymous_is_read_through_settings_in_any_case() -> None:
    assert "ANONYMOUS" in index_with({"HTTP_AUTH_LEVEL": " Anonymous "}).stdout.upper()


def test_a_broken_unrelated_setting_falls_back_to_function_keys_with_a_log_line() -> None:
    out = index_with({"HTTP_AUTH_LEVEL": "anonymous", "TASK_TIMEOUT_SECONDS": "not-a-number"})
    levels, count = out.stdout.rsplit(" ", 1)
    assert "FUNCTION" in levels.upper() and "ANONYMOUS" not in levels.upper()
    assert int(count) >= 8
    assert "function key" in out.stderr and "TASK_TIMEOUT_SECONDS" in out.stderr
    assert "not-a-number" not in out.stderr


def test_a_misspelt_level_is_not_anonymous() -> None:
    out = index_with({"HTTP_AUTH_LEVEL": "anonymus"})
    assert "ANONYMOUS" not in out.stdout.upper() and "HTTP_AUTH_LEVEL" in out.stderr
