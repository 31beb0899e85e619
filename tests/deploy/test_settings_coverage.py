"""Code and infrastructure cannot drift apart: every setting `Settings` reads is either set by the
template (infra/modules/function.bicep) or deliberately left to its code default (DEFAULTED), and
the template's production values pass the same validation the app applies."""

from __future__ import annotations

from typing import Any

import pytest

from magentic_tasks.settings import Settings
from tests.deploy.tooling import bicep

FUNCTION_BICEP = "infra/modules/function.bicep"

# Settings the template leaves unset on purpose, each with its reason. A setting added to
# `Settings` must either get a value in function.bicep's taskSettings or an entry here.
DEFAULTED: dict[str, str] = {
    "AZURE_OPENAI_API_KEY": "no keys: the app's managed identity calls Azure OpenAI (Cognitive Services OpenAI User)",
    "OPENAI_API_KEY": "the deployed provider is Azure OpenAI; unset refuses use_aoai=false tasks with a 422",
    "OPENAI_BASE_URL": "the deployed provider is Azure OpenAI; unset refuses use_aoai=false tasks with a 422",
    "MODEL_INFO": "only needed for model names autogen does not know; unset fails such a task with a clear message",
    "ACA_POOL_MANAGEMENT_ENDPOINT": "CODE_EXECUTOR=none; set both together to run code in Container Apps sessions",
    "ServiceBusConnection__fullyQualifiedNamespace": "Service Bus starter is opt-in; the template creates no namespace",
    "ServiceBusConnection": "Service Bus starter is opt-in; and if used, by identity (the namespace), never a key",
    "SERVICE_BUS_QUEUE": "only read with a Service Bus namespace; default magentic-tasks",
    "EVENT_GRID_STARTER": "Event Grid starter is opt-in (default false); the template creates no subscription",
    "LOG_PROMPTS": "default false keeps prompts out of logs and telemetry, which is what production wants",
    "WEBSITE_AUTH_ENABLED": "set by the platform itself when App Service authentication is enabled; never by hand",
    "TRUST_PRINCIPAL_HEADERS": "default false: principal headers count only where App Service auth strips forged ones",
    "CONSOLE_ENABLED": "default true: the console is static files; each API call it makes still needs a key or sign-in",
    "DURABLE_RETENTION_DAYS": "default 7 days: histories are purged only once SQLite holds the result",
    "TASK_RETENTION_DAYS": "unset keeps tasks forever; deleting users' results is the operator's choice",
    "CALLBACK_ALLOWED_HOSTS": "callbacks are opt-in: empty refuses every callback_url with a 422",
    "CALLBACK_ALLOW_PRIVATE_NETWORKS": "development only; default false refuses http and private addresses",
    "WEBHOOK_SECRET": "a secret: set it from Key Vault when enabling callbacks; unset keeps callbacks off",
    "CALLBACK_RETRY_HOURS": "default 24 hours of retries with growing delays",
    "RUN_LEASE_SECONDS": "default 60 s, renewed every 10 s; a retry after a crash waits at most that long",
    "EVENTS_QUEUE": "event sinks are opt-in; none is created by the template",
    "EventGridConnection__topicEndpointUri": "event sinks are opt-in; none is created by the template",
    "EVENTS_SERVICE_BUS_QUEUE": "event sinks are opt-in; none is created by the template",
    "EVENTS_SERVICE_BUS_TOPIC": "event sinks are opt-in; none is created by the template",
    "WEBSITE_HOSTNAME": "set by the platform itself",
    "FINAL_ANSWER_SECONDS": "default 30 s fits inside functionTimeout's margin; the run bounds it by the time left",
    "FINAL_ANSWER_MAX_TOKENS": "default 1024 completion tokens: one answer, bounded, counted with the task's tokens",
    "SLICE_SECONDS": "default 240 s: a slice of a run stays well under host.json's functionTimeout (600 s)",
    "REVIEW_TIMEOUT_SECONDS": "default one day for a reviewer to answer; a Durable timer, no compute held",
    "BROWSER_EXECUTABLE_PATH": "ENABLE_WEB_SURFER=false: Flex Consumption has no browser to launch",
    "BROWSER_CDP_URL": "ENABLE_WEB_SURFER=false; set it (or BROWSER_WS_ENDPOINT) to browse through a remote Chromium",
    "BROWSER_WS_ENDPOINT": "ENABLE_WEB_SURFER=false; a Playwright server (Azure Playwright Workspaces) is opt-in",
    "BROWSER_WS_HEADERS": "a secret (the Playwright server's token): from Key Vault, only with BROWSER_WS_ENDPOINT",
    "WEB_ALLOWED_HOSTS": "default empty: the browser reaches no private, loopback or link-local address",
    "WEB_BLOCKED_HOSTS": "default empty: only internal addresses are refused",
    "WEB_START_PAGE": "default https://www.bing.com/, autogen's own start page",
    "WEB_DOWNLOAD_MAX_BYTES": "default 25 MiB per download into the task's workspace",
    "FILES_URL_ALLOWED_HOSTS": "attachments by URL are opt-in: empty refuses every url with a 422",
    "FILES_URL_ALLOW_PRIVATE_NETWORKS": "development and tests only; default false refuses http and private addresses",
    "FILES_URL_CA_BUNDLE": "unset: the system's CAs verify attachment URLs; set it only for a private CA",
}

# Values of the template's parameters used to check its settings through `Settings`.
PARAMETER_SAMPLES: dict[str, str] = {
    "azureOpenAiEndpoint": "https://oai-example.openai.azure.com/",
    "modelDeploymentName": "gpt-4o",
    "maxTokensPerTask": "200000",
    "taskFilesContainerName": "task-files",
    "appInsightsConnectionString": (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=https://swedencentral-0.in.applicationinsights.azure.com/"
    ),
}


def setting_names(info: Any) -> list[str]:
    """A field's environment names, the primary one first (as tests/conftest.py reads them)."""
    alias = info.validation_alias
    choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
    return [choice for choice in choices if isinstance(choice, str)]


def settings_fields() -> dict[str, list[str]]:
    return {field: setting_names(info) for field, info in Settings.model_fields.items()}


def _branches(value: Any) -> dict[str, Any]:
    """An object literal, or both branches of `cond ? {...} : {...}`, merged."""
    operator = value.get("operator") if isinstance(value, dict) else None
    if operator and operator["type"] == "conditional":
        operands = operator["operands"]
        return {**_branches(operands["false_value"]), **_branches(operands["true_value"])}
    assert isinstance(value, dict), f"expected an object literal, got {value!r}"
    return value


def template_settings() -> dict[str, Any]:
    """Every app setting the template can set: the objects union()-ed into the appsettings resource."""
    tree = bicep(FUNCTION_BICEP)
    union = tree["resources"]["appSettings"]["config"]["properties"]["function"]
    assert union["type"] == "union", "appsettings properties should be union(<setting objects>)"
    settings: dict[str, Any] = {}
    for variable in union["parameters"].values():
        settings.update(_branches(tree["variables"][variable]["value"]))
    return settings


def resolved(value: Any, tree: dict[str, Any]) -> str:
    """A setting's value with parameters and variables replaced by samples (pycep gives both as bare names)."""
    if isinstance(value, dict) and value.get("function", {}).get("type") == "string":
        (argument,) = value["function"]["parameters"].values()
        return resolved(argument, tree)
    assert isinstance(value, str), f"unexpected expression {value!r}"
    if value in tree["parameters"]:
        return PARAMETER_SAMPLES[value]
    for name, variable in tree["variables"].items():
        value = value.replace("${" + name + "}", str(variable["value"]))
    return value


def test_every_setting_is_set_by_the_template_or_deliberately_defaulted() -> None:
    in_template = set(template_settings())
    missing = [
        names[0]
        for names in settings_fields().values()
        if names and not in_template.intersection(names) and names[0] not in DEFAULTED
    ]
    assert not missing, (
        f"Settings reads {missing} but the deployment template neither sets them nor says why not. "
        f"Add each to taskSettings in {FUNCTION_BICEP} with its production value, or to DEFAULTED in "
        "tests/deploy/test_settings_coverage.py with the reason its code default is safe in Azure."
    )


def test_the_allow_list_names_only_real_settings_the_template_leaves_unset() -> None:
    primary = {names[0] for names in settings_fields().values() if names}
    stale = sorted(set(DEFAULTED) - primary)
    assert not stale, f"DEFAULTED names settings that Settings no longer reads: {stale}; remove them"
    both = sorted(set(DEFAULTED) & set(template_settings()))
    assert not both, f"{both} are in DEFAULTED but the template sets them; drop them from DEFAULTED"


@pytest.mark.usefixtures("clean_model_env")
def test_the_production_values_pass_the_apps_own_validation() -> None:
    tree = bicep(FUNCTION_BICEP)
    names = {name for fields in settings_fields().values() for name in fields}
    values = {name: resolved(value, tree) for name, value in template_settings().items() if name in names}
    settings = Settings.model_validate(values)
    assert settings.sqlite_locking == "dotfile"
    assert str(settings.tasks_db_path).startswith("/mounts/tasks/")
    assert settings.azure_openai_configured and settings.azure_openai_api_key is None
    assert settings.code_executor == "none"
    assert settings.allowed_models == ("gpt-4o",)


def test_the_database_lives_on_the_mounted_share_and_workspaces_on_local_disk() -> None:
    tree = bicep(FUNCTION_BICEP)
    mount = tree["resources"]["app"]["config"]["properties"]["siteConfig"]["azureStorageAccounts"]["tasks"]
    mount_path = tree["variables"][mount["mountPath"]]["value"]
    settings = template_settings()
    assert resolved(settings["TASKS_DB_PATH"], tree).startswith(mount_path + "/")
    assert (mount["type"], mount["protocol"]) == ("AzureFiles", "Smb")
    assert not resolved(settings["TASK_WORKSPACE_ROOT"], tree).startswith(mount_path)


def test_keys_stay_out_of_app_settings_and_functions_use_keys() -> None:
    settings = template_settings()
    assert "AzureWebJobsStorage" not in settings, "the host must use identity, not a connection string"
    identity_based = {f"AzureWebJobsStorage__{part}" for part in ("accountName", "credential", "clientId")}
    assert identity_based <= set(settings)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "listKeys" not in str(settings), "no storage key may flow into app settings"
    assert not {"AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"} & set(settings)
    assert settings.get("HTTP_AUTH_LEVEL", "function") == "function"
    assert "AZURE_CLIENT_ID" in settings, "DefaultAzureCredential needs the user-assigned identity's client id"
