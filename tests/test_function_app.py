"""The app as the Functions host indexes it, and the project files that configure it."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

from pydantic import AliasChoices

from magentic_tasks.openapi import OPERATIONS
from magentic_tasks.settings import FUNCTION_TIMEOUT_SECONDS, Settings

ROOT = Path(__file__).resolve().parent.parent
# The console's static files (starters/console.py): anonymous by design, not part of the API.
CONSOLE = {"console_page": ("console", "anonymous"), "console_asset": ("console/{*asset}", "anonymous")}


@functools.cache
def functions() -> dict[str, dict[str, object]]:
    import function_app

    found = {}
    for fn in function_app.app.get_functions():
        trigger = fn.get_trigger().get_dict_repr()
        found[fn.get_function_name()] = {
            "trigger": trigger["type"],
            "route": trigger.get("route"),
            "methods": [getattr(m, "value", m) for m in trigger.get("methods") or ()],
            "auth": getattr(trigger.get("authLevel"), "value", None),
            "bindings": sorted(b.type for b in fn.get_bindings()),
        }
    return found


def test_the_host_finds_every_function_with_its_trigger() -> None:
    found = functions()
    assert {name: f["trigger"] for name, f in found.items()} == {
        "create_task": "httpTrigger",
        "get_task_status": "httpTrigger",
        "get_task_result": "httpTrigger",
        "list_tasks": "httpTrigger",
        "delete_task": "httpTrigger",
        "cancel_task": "httpTrigger",
        "get_task_messages": "httpTrigger",
        "submit_task_input": "httpTrigger",
        "list_task_files": "httpTrigger",
        "get_task_file": "httpTrigger",
        "get_openapi": "httpTrigger",
        "console_page": "httpTrigger",
        "console_asset": "httpTrigger",
        "apply_retention": "timerTrigger",
        "enqueue_task": "queueTrigger",
        "reconcile_mirror": "timerTrigger",
        "task_orchestrator": "orchestrationTrigger",
        "run_magentic_one_activity": "activityTrigger",
        "record_failure_activity": "activityTrigger",
        "callback_orchestrator": "orchestrationTrigger",
        "start_callback_delivery_activity": "activityTrigger",
        "deliver_callback_activity": "activityTrigger",
        "announce_orchestrator": "orchestrationTrigger",
        "announcement_activity": "activityTrigger",
    }


def test_routes_are_the_original_services_and_need_a_function_key() -> None:
    api = {name: f for name, f in functions().items() if f["trigger"] == "httpTrigger" and name not in CONSOLE}
    routes = {(f["route"], tuple(f["methods"] or ())) for f in api.values()}
    assert {("tasks", ("POST",)), ("tasks/{task_id}", ("GET",)), ("tasks/{task_id}/result", ("GET",))} <= routes
    # A catch-all route parameter ({*name}: a file's path) is a plain path parameter in the OpenAPI document.
    assert {(route.replace("{*", "{"), methods) for route, methods in routes} == {
        (op.path.lstrip("/"), (op.method.upper(),)) for op in OPERATIONS}
    assert {str(f["auth"]).lower() for f in api.values()} == {"function"}


def test_the_console_serves_static_files_anonymously_and_can_be_switched_off() -> None:
    """Its files hold no data (the API calls they make need the key); `CONSOLE_ENABLED=false`
    leaves the functions out at indexing."""
    found = functions()
    assert {name: (found[name]["route"], found[name]["auth"], found[name]["methods"]) for name in CONSOLE} == {
        name: (route, auth, ["GET"]) for name, (route, auth) in CONSOLE.items()
    }
    code = "import function_app; print(sorted(f.get_function_name() for f in function_app.app.get_functions()))"
    names = load_the_app(code, CONSOLE_ENABLED="false").stdout
    assert "create_task" in names and not any(name in names for name in CONSOLE)


def test_importing_the_app_does_not_import_autogen() -> None:
    code = "import sys, function_app; print(sorted(m for m in sys.modules if m.startswith('autogen')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_explicit_setting_opens_the_http_functions_for_local_development() -> None:
    code = (
        "import function_app; print({f.get_trigger().get_dict_repr().get('authLevel') "
        "for f in function_app.app.get_functions() if f.get_trigger().get_dict_repr()['type'] == 'httpTrigger'})"
    )
    env = {"HTTP_AUTH_LEVEL": "anonymous", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert "ANONYMOUS" in out.stdout.upper()


def test_invalid_settings_do_not_stop_the_host_indexing_the_functions() -> None:
    code = "import function_app; print(len(function_app.app.get_functions()))"
    env = {"TASK_TIMEOUT_SECONDS": "not-a-number", "CODE_EXECUTOR": "bogus", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == str(len(functions()))


def load_the_app(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with only `env` set, as a worker loads the app."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_loading_the_app_builds_no_settings_or_schema_validators_and_imports_no_service() -> None:
    """With the startup settings at their defaults, indexing reads only those: the whole `Settings`,
    the schemas' validators, the service, the SQLite store and the OpenAPI tables wait for the first
    call that needs them (they are most of what loading the app would otherwise cost)."""
    code = (
        "import sys, function_app\n"
        "from pydantic import BaseModel\n"
        "def subclasses(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from subclasses(sub)\n"
        "ours = [c for c in subclasses(BaseModel) if c.__module__.startswith(('magentic_tasks.settings', "
        "'magentic_tasks.schemas'))]\n"
        "print(sorted(c.__name__ for c in ours if c.__pydantic_complete__))\n"
        "print(sorted(m for m in ('magentic_tasks.service', 'magentic_tasks.store', 'magentic_tasks.openapi') "
        "if m in sys.modules))\n"
        "print(len(ours))"
    )
    built, imported, models = load_the_app(code).stdout.split("\n")[:3]
    assert built == "['StartupSettings']"
    assert imported == "[]"
    assert int(models) >= 10  # the orchestrators' and activities' schemas are loaded, not built


def test_an_invalid_setting_that_cannot_change_the_functions_is_reported_by_the_first_call() -> None:
    """MAX_TURNS cannot decide what is indexed: the defaults are indexed either way (function keys,
    no optional starters), and the first call answers and logs which setting is invalid."""
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s')\n"
        "import function_app, starters.http_api as http\n"
        "fns = function_app.app.get_functions()\n"
        "print(len(fns), {str(f.get_trigger().get_dict_repr().get('authLevel')) for f in fns "
        "if f.get_trigger().get_dict_repr()['type'] == 'httpTrigger' "
        "and not f.get_function_name().startswith('console_')})\n"
        "answer = http.service_for(None)\n"
        "print(answer.status_code, answer.body)"
    )
    out = load_the_app(code, MAX_TURNS="not-a-number", EVENTS_QUEUE="")
    indexed, answered = out.stdout.strip().split("\n")
    assert indexed == f"{len(functions())} {{'FUNCTION'}}"
    assert answered.startswith("500 ") and "MAX_TURNS" in answered
    assert "starters.http_api: settings are invalid: MAX_TURNS" in out.stderr
    assert "not-a-number" not in out.stderr + out.stdout


def test_host_json_matches_the_contract_and_the_settings() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds == FUNCTION_TIMEOUT_SECONDS
    assert Settings().slice_seconds < FUNCTION_TIMEOUT_SECONDS
    assert host["extensions"]["durableTask"]["hubName"]


def test_local_settings_example_lists_every_setting() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), name
        assert alias.choices[0] in values, f"{alias.choices[0]} missing from local.settings.json.example"
    assert values["HTTP_AUTH_LEVEL"] == "anonymous"
    assert Settings(**{k: v for k, v in values.items() if k.isupper()}) is not None


def test_the_configuration_reference_documents_every_setting() -> None:
    """Every name of every setting (aliases included) heads a row of docs/configuration.md's tables,
    and the README points there."""
    reference = (ROOT / "docs" / "configuration.md").read_text()
    first_cells = [line.split("|")[1] for line in reference.splitlines() if line.startswith("| `")]
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        for name in alias.choices:
            assert any(re.search(rf"`{re.escape(str(name))}`", cell) for cell in first_cells), (
                f"{name} missing from docs/configuration.md"
            )
    assert "docs/configuration.md" in (ROOT / "README.md").read_text()


def test_the_azure_app_settings_lock_sqlite_for_smb_and_are_valid() -> None:
    entries = json.loads((ROOT / "deploy" / "azure.appsettings.json").read_text())
    values = {entry["name"]: entry["value"] for entry in entries}
    assert values["SQLITE_LOCKING"] == "dotfile"
    assert values["TASKS_DB_PATH"].startswith("/mounts/")
    assert "HTTP_AUTH_LEVEL" not in values and "AZURE_OPENAI_API_KEY" not in values
    settings = Settings(**values)
    assert settings.sqlite_locking == "dotfile" and settings.slice_seconds < FUNCTION_TIMEOUT_SECONDS
