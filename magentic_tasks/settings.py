"""Service settings: one `BaseSettings`, read from the environment.

In development the environment is `local.settings.json`'s `Values`; in Azure it is the app settings.
The original FastAPI service's variable names are accepted as aliases.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .schemas import MODEL_NAME_PATTERN

CodeExecutorKind = Literal["none", "local", "docker", "aca"]
SqliteLocking = Literal["default", "dotfile"]
HttpAuthLevel = Literal["function", "anonymous"]

MIB = 1024 * 1024

# host.json's functionTimeout, in seconds; a slice of a run (SLICE_SECONDS) must stay below it.
FUNCTION_TIMEOUT_SECONDS = 600
# How long a cancelled run gets to wind down (autogen drains buffered messages first) before it is abandoned.
CANCEL_GRACE_SECONDS = 10.0


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class StartupSettings(BaseSettings):
    """The settings the worker reads when it loads the app: which functions exist (the optional
    starters, one event publisher per sink, the console), how the HTTP functions authenticate, and
    whether prompts are logged. A few fields, so reading them is cheap; `Settings` holds them and everything else."""

    # Errors name the setting, never its value (some are secrets).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True, hide_input_in_errors=True)

    # Optional starters, each registered only when its service is configured (read at indexing).
    service_bus_namespace: str | None = Field(
        default=None, validation_alias=_alias("ServiceBusConnection__fullyQualifiedNamespace")
    )
    service_bus_connection_string: SecretStr | None = Field(
        default=None, validation_alias=_alias("ServiceBusConnection")
    )
    service_bus_queue: str = Field(
        default="magentic-tasks", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$",
        validation_alias=_alias("SERVICE_BUS_QUEUE"),
    )
    event_grid_starter: bool = Field(default=False, validation_alias=_alias("EVENT_GRID_STARTER"))

    # Completion-event sinks: one publishing activity each (read at indexing).
    events_queue: str | None = Field(default=None, validation_alias=_alias("EVENTS_QUEUE"))
    events_event_grid_topic: str | None = Field(
        default=None, validation_alias=_alias("EventGridConnection__topicEndpointUri")
    )
    events_service_bus_queue: str | None = Field(default=None, validation_alias=_alias("EVENTS_SERVICE_BUS_QUEUE"))
    events_service_bus_topic: str | None = Field(default=None, validation_alias=_alias("EVENTS_SERVICE_BUS_TOPIC"))

    # HTTP access, read once when the worker indexes the functions.
    http_auth_level: HttpAuthLevel = Field(default="function", validation_alias=_alias("HTTP_AUTH_LEVEL"))
    # The browser console's static files (GET /console): registered unless this is false.
    console_enabled: bool = Field(default=True, validation_alias=_alias("CONSOLE_ENABLED"))

    # Logging: autogen's prompt-carrying loggers are quiet at INFO unless this is on.
    log_prompts: bool = Field(default=False, validation_alias=_alias("LOG_PROMPTS"))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment: no `.env` file or secrets directory is configured, and
        their sources would walk every field for nothing on each read."""
        return init_settings, env_settings

    @field_validator("http_auth_level", mode="before")
    @classmethod
    def _auth_level_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("console_enabled", mode="before")
    @classmethod
    def _blank_console_is_on(cls, value: object) -> object:
        return True if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "service_bus_namespace", "service_bus_connection_string", "events_queue", "events_event_grid_topic",
        "events_service_bus_queue", "events_service_bus_topic", mode="before",
    )
    @classmethod
    def _blank_connection_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def service_bus_configured(self) -> bool:
        """A Service Bus connection is set: by managed identity (namespace) or connection string."""
        return self.service_bus_namespace is not None or self.service_bus_connection_string is not None

    @property
    def event_sinks(self) -> tuple[str, ...]:
        """The completion-event sinks configured: `queue`, `event_grid`, `service_bus_queue`, `service_bus_topic`."""
        configured = {
            "queue": self.events_queue,
            "event_grid": self.events_event_grid_topic,
            "service_bus_queue": self.events_service_bus_queue,
            "service_bus_topic": self.events_service_bus_topic,
        }
        return tuple(name for name, value in configured.items() if value)


class Settings(StartupSettings):
    """Everything the service reads from its environment.

    Its validators are built on first use (`defer_build`): loading the app reads `StartupSettings` only.
    Its validation errors never quote the input: a value may be a secret."""

    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, defer_build=True, hide_input_in_errors=True
    )

    # Model providers.
    azure_openai_endpoint: str | None = Field(
        default=None, validation_alias=_alias("AZURE_OPENAI_ENDPOINT", "AZURE_OPEN_AI_ENDPOINT")
    )
    azure_openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("AZURE_OPENAI_API_KEY", "AZURE_OPEN_AI_KEY")
    )
    openai_api_version: str = Field(default="2024-10-21", validation_alias=_alias("OPENAI_API_VERSION"))
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("OPENAI_API_KEY", "OPEN_AI_API_KEY")
    )
    openai_base_url: str | None = Field(default=None, validation_alias=_alias("OPENAI_BASE_URL"))
    # The model of a request that names none (the API schema's documented default is the original's gpt-4o).
    default_model_name: str = Field(
        default="gpt-4o", pattern=MODEL_NAME_PATTERN,
        validation_alias=_alias("DEFAULT_MODEL_NAME", "OPEN_AI_MODEL_NAME"),
    )
    allowed_models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_alias("ALLOWED_MODELS")
    )
    model_info: dict[str, Any] | None = Field(default=None, validation_alias=_alias("MODEL_INFO"))
    model_max_retries: int = Field(default=3, ge=0, le=10, validation_alias=_alias("MODEL_MAX_RETRIES"))
    model_timeout_seconds: float = Field(
        default=120.0, gt=0, validation_alias=_alias("MODEL_TIMEOUT_SECONDS")
    )

    # Storage.
    tasks_db_path: Path = Field(default=Path(".data/tasks.db"), validation_alias=_alias("TASKS_DB_PATH"))
    sqlite_locking: SqliteLocking = Field(default="default", validation_alias=_alias("SQLITE_LOCKING"))
    sqlite_busy_timeout_ms: int = Field(
        default=5000, ge=0, validation_alias=_alias("SQLITE_BUSY_TIMEOUT_MS")
    )
    task_workspace_root: Path = Field(
        default=Path(".data/workspaces"), validation_alias=_alias("TASK_WORKSPACE_ROOT")
    )

    # The team.
    code_executor: CodeExecutorKind = Field(default="none", validation_alias=_alias("CODE_EXECUTOR"))
    aca_pool_management_endpoint: str | None = Field(
        default=None, validation_alias=_alias("ACA_POOL_MANAGEMENT_ENDPOINT")
    )
    # `auto` (None, the default), `true` or `false`: magentic_tasks.browser.web_surfer_decision() says
    # whether the WebSurfer runs, and why (auto: a browser is configured or playwright has one).
    enable_web_surfer: bool | None = Field(default=None, validation_alias=_alias("ENABLE_WEB_SURFER"))

    # The WebSurfer's browser: at most one of a local executable, a Chromium reached over CDP, or a
    # Playwright server (none: the Chromium that `playwright install chromium` put in place).
    browser_executable_path: Path | None = Field(default=None, validation_alias=_alias("BROWSER_EXECUTABLE_PATH"))
    browser_cdp_url: str | None = Field(
        default=None, pattern=r"^(https?|wss?)://\S+$", validation_alias=_alias("BROWSER_CDP_URL")
    )
    browser_ws_endpoint: str | None = Field(
        default=None, pattern=r"^wss?://\S+$", validation_alias=_alias("BROWSER_WS_ENDPOINT")
    )
    # A JSON object of header names to values for the Playwright server (a token, usually): a secret.
    browser_ws_headers: SecretStr | None = Field(default=None, validation_alias=_alias("BROWSER_WS_HEADERS"))
    # Where the browser may go: every address is refused that is not public (loopback, private,
    # link-local, CGNAT, unspecified...) unless its host is allowed here; blocked hosts are refused too.
    web_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_alias("WEB_ALLOWED_HOSTS")
    )
    web_blocked_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_alias("WEB_BLOCKED_HOSTS")
    )
    web_start_page: str = Field(
        default="https://www.bing.com/", pattern=r"^(https?://\S+|about:blank)$",
        validation_alias=_alias("WEB_START_PAGE"),
    )
    # The largest file a download may write into the task's workspace; 0 turns downloads off.
    web_download_max_bytes: int = Field(
        default=25 * MIB, ge=0, le=4096 * MIB, validation_alias=_alias("WEB_DOWNLOAD_MAX_BYTES")
    )

    # Files in and out (magentic_tasks.files): attachments of POST /tasks and the team's outputs, in Blob
    # Storage through the connection named here (the Functions conventions: <name> holds a connection
    # string, or <name>__blobServiceUri / <name>__accountName name the account for the app's identity).
    task_files_connection: str = Field(
        default="AzureWebJobsStorage", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        validation_alias=_alias("TASK_FILES_CONNECTION"),
    )
    task_files_container: str = Field(
        default="task-files", pattern=r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$",
        validation_alias=_alias("TASK_FILES_CONTAINER"),
    )
    files_max_count: int = Field(default=20, ge=0, le=200, validation_alias=_alias("FILES_MAX_COUNT"))
    # The largest attachment, inline or fetched from a URL (the fetch stops there while streaming).
    files_max_bytes: int = Field(default=25 * MIB, ge=1, le=1024 * MIB, validation_alias=_alias("FILES_MAX_BYTES"))
    # Inline content of one request, all files together (decoded): the body is read whole into memory.
    files_inline_max_bytes: int = Field(
        default=8 * MIB, ge=0, le=64 * MIB, validation_alias=_alias("FILES_INLINE_MAX_BYTES")
    )
    # Attachments by URL: https, a host on this list, never a private, loopback or link-local address.
    files_url_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_alias("FILES_URL_ALLOWED_HOSTS")
    )
    files_url_allow_private_networks: bool = Field(
        default=False, validation_alias=_alias("FILES_URL_ALLOW_PRIVATE_NETWORKS")
    )
    # A PEM bundle of CAs that attachment URLs' certificates may chain to, instead of the system's.
    files_url_ca_bundle: Path | None = Field(default=None, validation_alias=_alias("FILES_URL_CA_BUNDLE"))
    # What a run keeps of its workspace (outside inputs/): this many files, and at most this many bytes
    # in all; the rest is listed as skipped.
    artifact_max_files: int = Field(default=50, ge=0, le=1000, validation_alias=_alias("ARTIFACT_MAX_FILES"))
    artifact_max_bytes: int = Field(
        default=100 * MIB, ge=0, le=10 * 1024 * MIB, validation_alias=_alias("ARTIFACT_MAX_BYTES")
    )

    # Limits.
    max_turns: int = Field(default=20, ge=1, le=200, validation_alias=_alias("MAX_TURNS"))
    max_stalls: int = Field(default=3, ge=1, le=50, validation_alias=_alias("MAX_STALLS"))
    # The whole run's deadline, over every slice: it may exceed functionTimeout.
    task_timeout_seconds: float = Field(default=540.0, gt=0, validation_alias=_alias("TASK_TIMEOUT_SECONDS"))
    # One activity runs rounds for this long, saves the round boundary and hands over to the next slice.
    slice_seconds: float = Field(
        default=240.0, gt=0, lt=FUNCTION_TIMEOUT_SECONDS, validation_alias=_alias("SLICE_SECONDS")
    )
    # A run renews its task's lease (one live copy of the run at a time) every sixth of this; a lease
    # not renewed for this long is a dead run's, and the next copy of the activity takes over.
    run_lease_seconds: float = Field(default=60.0, ge=1, le=600, validation_alias=_alias("RUN_LEASE_SECONDS"))
    # How long a task with "review": "plan" waits in awaiting_input for POST /tasks/{id}/input (no compute
    # is held: a Durable timer); then it ends cancelled.
    review_timeout_seconds: float = Field(
        default=86_400.0, gt=0, le=30 * 86_400, validation_alias=_alias("REVIEW_TIMEOUT_SECONDS")
    )
    max_prompt_chars: int = Field(default=20_000, ge=1, validation_alias=_alias("MAX_PROMPT_CHARS"))
    max_tokens_per_task: int | None = Field(
        default=None, ge=1, validation_alias=_alias("MAX_TOKENS_PER_TASK")
    )
    # A run stopped by its deadline or token budget asks the orchestrator's final-answer prompt once,
    # within this many seconds and completion tokens (0 seconds: never), counted like any call.
    final_answer_seconds: float = Field(default=30.0, ge=0, le=120, validation_alias=_alias("FINAL_ANSWER_SECONDS"))
    final_answer_max_tokens: int = Field(
        default=1024, ge=16, le=16_384, validation_alias=_alias("FINAL_ANSWER_MAX_TOKENS")
    )

    # Durable retries of the team activity.
    activity_max_attempts: int = Field(
        default=3, ge=1, le=10, validation_alias=_alias("ACTIVITY_MAX_ATTEMPTS")
    )
    activity_first_retry_seconds: float = Field(
        default=5.0, gt=0, validation_alias=_alias("ACTIVITY_FIRST_RETRY_SECONDS")
    )
    # How often a running team asks Durable whether its task was cancelled (one status read each).
    cancel_poll_seconds: float = Field(default=2.0, gt=0, le=60, validation_alias=_alias("CANCEL_POLL_SECONDS"))
    # How long streamed messages and token usage wait to be written to SQLite in one batch (a round
    # boundary writes its batch at once): a follower sees a message within about this long.
    mirror_flush_seconds: float = Field(default=1.0, ge=0, le=30, validation_alias=_alias("MIRROR_FLUSH_SECONDS"))

    # Completion events and signed webhooks (on every final state).
    callback_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=_alias("CALLBACK_ALLOWED_HOSTS")
    )
    callback_allow_private_networks: bool = Field(
        default=False, validation_alias=_alias("CALLBACK_ALLOW_PRIVATE_NETWORKS")
    )
    webhook_secret: SecretStr | None = Field(default=None, validation_alias=_alias("WEBHOOK_SECRET"))
    callback_retry_hours: float = Field(default=24.0, gt=0, le=24 * 7, validation_alias=_alias("CALLBACK_RETRY_HOURS"))
    website_hostname: str | None = Field(default=None, validation_alias=_alias("WEBSITE_HOSTNAME"))

    # Retention (a daily timer): Durable history of finished tasks is purged after this many days
    # (results stay in SQLite); tasks are deleted from both stores after TASK_RETENTION_DAYS (unset: kept).
    durable_retention_days: float | None = Field(
        default=7.0, gt=0, validation_alias=_alias("DURABLE_RETENTION_DAYS")
    )
    task_retention_days: float | None = Field(default=None, gt=0, validation_alias=_alias("TASK_RETENTION_DAYS"))

    # Whose task it is: the X-MS-CLIENT-PRINCIPAL-* headers are trusted only where the platform strips
    # forged ones, i.e. App Service authentication is on (the platform then sets WEBSITE_AUTH_ENABLED=True),
    # or where an operator says a proxy in front does the same (TRUST_PRINCIPAL_HEADERS=true).
    website_auth_enabled: bool = Field(default=False, validation_alias=_alias("WEBSITE_AUTH_ENABLED"))
    trust_principal_headers: bool = Field(default=False, validation_alias=_alias("TRUST_PRINCIPAL_HEADERS"))

    # Telemetry to Application Insights: on only when set (read at startup by magentic_tasks.telemetry).
    applicationinsights_connection_string: str | None = Field(
        default=None, validation_alias=_alias("APPLICATIONINSIGHTS_CONNECTION_STRING")
    )

    @field_validator("website_auth_enabled", "trust_principal_headers", mode="before")
    @classmethod
    def _blank_flag_is_false(cls, value: object) -> object:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_models", "callback_allowed_hosts", "files_url_allowed_hosts", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("callback_allowed_hosts", "files_url_allowed_hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        """Compared as callback URLs' hosts are: lower case, ASCII (IDNA), no trailing dot."""
        from .webhooks import host_name  # the HTTP client's URL parser, loaded only when the list is read

        try:
            return tuple(host_name(entry) for entry in value)
        except ValueError:
            setting = "FILES_URL_ALLOWED_HOSTS" if info.field_name == "files_url_allowed_hosts" else (
                "CALLBACK_ALLOWED_HOSTS")
            raise ValueError(f"{setting}: every entry must be a host name or *.domain") from None

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from .webhooks import secret_key

        if value is not None:
            try:
                secret_key(value.get_secret_value())
            except ValueError as invalid:
                raise ValueError(f"WEBHOOK_SECRET: {invalid}") from None
        return value

    @field_validator("web_allowed_hosts", "web_blocked_hosts", mode="before")
    @classmethod
    def _host_patterns(cls, value: object) -> object:
        from .hostnames import normalise_host_pattern

        if isinstance(value, str):
            value = [name for name in value.split(",") if name.strip()]
        if isinstance(value, list | tuple):
            return tuple(normalise_host_pattern(str(name)) for name in value)
        return value

    @field_validator("enable_web_surfer", mode="before")
    @classmethod
    def _auto_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "auto") else value

    @field_validator("browser_ws_headers", mode="after")
    @classmethod
    def _headers_json(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _header_values(value)  # the error never quotes the value: it is a secret
        return value

    @field_validator(
        "azure_openai_endpoint", "openai_base_url", "aca_pool_management_endpoint", "website_hostname",
        "browser_executable_path", "browser_cdp_url", "browser_ws_endpoint", "files_url_ca_bundle", mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("azure_openai_api_key", "openai_api_key", "webhook_secret", "browser_ws_headers", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("max_tokens_per_task", "durable_retention_days", "task_retention_days", mode="before")
    @classmethod
    def _blank_number_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model_info", mode="before")
    @classmethod
    def _model_info_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value

    @model_validator(mode="after")
    def _aca_needs_endpoint(self) -> Settings:
        if self.code_executor == "aca" and not self.aca_pool_management_endpoint:
            raise ValueError("CODE_EXECUTOR=aca needs ACA_POOL_MANAGEMENT_ENDPOINT")
        return self

    @model_validator(mode="after")
    def _one_browser(self) -> Settings:
        routes = [self.browser_executable_path, self.browser_cdp_url, self.browser_ws_endpoint]
        if sum(route is not None for route in routes) > 1:
            raise ValueError("set at most one of BROWSER_EXECUTABLE_PATH, BROWSER_CDP_URL and BROWSER_WS_ENDPOINT")
        if self.browser_ws_headers is not None and self.browser_ws_endpoint is None:
            raise ValueError("BROWSER_WS_HEADERS is only used with BROWSER_WS_ENDPOINT")
        return self

    @property
    def azure_openai_configured(self) -> bool:
        return self.azure_openai_endpoint is not None

    @property
    def openai_configured(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def principal_headers_trusted(self) -> bool:
        """Whether X-MS-CLIENT-PRINCIPAL-ID names the caller (else anyone could send it)."""
        return self.website_auth_enabled or self.trust_principal_headers

    def provider_problem(self, use_aoai: bool) -> str | None:
        """Why a task for this provider cannot run on this server, or None when it can."""
        if use_aoai and not self.azure_openai_configured:
            return "Azure OpenAI is not configured on this server (set AZURE_OPENAI_ENDPOINT)"
        if not use_aoai and not self.openai_configured:
            return "OpenAI is not configured on this server (set OPENAI_API_KEY or OPENAI_BASE_URL)"
        return None

    def model_allowed(self, model_name: str) -> bool:
        return not self.allowed_models or model_name in self.allowed_models

    @property
    def browser_ws_header_values(self) -> dict[str, str]:
        """BROWSER_WS_HEADERS as a dict (empty when unset): secret values, never to be logged."""
        return _header_values(self.browser_ws_headers) if self.browser_ws_headers is not None else {}

    def secrets(self) -> list[str]:
        """The secret values this service holds, for scrubbing them out of text."""
        keys = (
            self.azure_openai_api_key, self.openai_api_key, self.service_bus_connection_string, self.webhook_secret,
            self.browser_ws_headers,
        )
        values = [key.get_secret_value() for key in keys if key is not None and key.get_secret_value()]
        return values + [value for value in self.browser_ws_header_values.values() if value] + self._files_secrets()

    def _files_secrets(self) -> list[str]:
        """The task files' connection string (as the Functions host reads it: the environment variable
        TASK_FILES_CONNECTION names) and its account key or SAS, where it holds one."""
        value = os.environ.get(self.task_files_connection, "")
        parts = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
        found = [parts[key] for key in ("AccountKey", "SharedAccessSignature") if parts.get(key)]
        return [value, *found] if found else []


def _header_values(secret: SecretStr) -> dict[str, str]:
    """A JSON object of strings, or a ValueError that does not quote it."""
    try:
        headers = json.loads(secret.get_secret_value())
    except ValueError:
        raise ValueError("BROWSER_WS_HEADERS must be a JSON object of header names to strings") from None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("BROWSER_WS_HEADERS must be a JSON object of header names to strings")
    return {str(name): value for name, value in headers.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; `get_settings.cache_clear()` re-reads them."""
    return Settings()
