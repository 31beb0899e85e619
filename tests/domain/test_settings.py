"""Settings: names from design.md, the original service's aliases, and clear failures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from magentic_tasks.settings import Settings

SETTING_NAMES = (
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPEN_AI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPEN_AI_KEY",
    "OPENAI_API_KEY", "OPEN_AI_API_KEY", "OPENAI_BASE_URL", "OPEN_AI_MODEL_NAME", "DEFAULT_MODEL_NAME",
    "ALLOWED_MODELS", "MODEL_INFO", "CODE_EXECUTOR", "TASK_TIMEOUT_SECONDS", "MAX_TOKENS_PER_TASK",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_nothing_and_configure_no_provider() -> None:
    settings = Settings()
    assert settings.code_executor == "none"
    assert settings.max_turns == 20 and settings.max_stalls == 3
    assert settings.task_timeout_seconds < 600
    assert settings.provider_problem(use_aoai=True) is not None
    assert settings.provider_problem(use_aoai=False) is not None


def test_conventional_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-conventional")
    settings = Settings()
    assert settings.azure_openai_endpoint == "https://example.openai.azure.com"
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == "sk-conventional"
    assert settings.provider_problem(use_aoai=True) is None
    assert settings.provider_problem(use_aoai=False) is None


def test_the_original_services_names_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPEN_AI_ENDPOINT", "https://legacy.openai.azure.com")
    monkeypatch.setenv("AZURE_OPEN_AI_KEY", "legacy-azure-key")
    monkeypatch.setenv("OPEN_AI_API_KEY", "legacy-openai-key")
    monkeypatch.setenv("OPEN_AI_MODEL_NAME", "gpt-4o-mini")
    settings = Settings()
    assert settings.azure_openai_endpoint == "https://legacy.openai.azure.com"
    assert settings.azure_openai_api_key is not None
    assert settings.azure_openai_api_key.get_secret_value() == "legacy-azure-key"
    assert settings.default_model_name == "gpt-4o-mini"
    assert sorted(settings.secrets()) == ["legacy-azure-key", "legacy-openai-key"]


def test_blank_values_from_local_settings_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_KEY", "MODEL_INFO", "MAX_TOKENS_PER_TASK"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.azure_openai_endpoint is None
    assert settings.openai_api_key is None
    assert settings.model_info is None and settings.max_tokens_per_task is None


def test_allowed_models_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_MODELS", "gpt-4o, gpt-4o-mini ,")
    settings = Settings()
    assert settings.allowed_models == ("gpt-4o", "gpt-4o-mini")
    assert settings.model_allowed("gpt-4o-mini")
    assert not settings.model_allowed("o1")
    assert Settings(ALLOWED_MODELS="").model_allowed("anything")


def test_model_info_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_INFO", '{"vision": false, "function_calling": true, "json_output": true, '
                                     '"family": "unknown", "structured_output": false}')
    assert Settings().model_info == {
        "vision": False, "function_calling": True, "json_output": True, "family": "unknown", "structured_output": False
    }


def test_a_slice_must_stay_below_the_function_timeout_and_the_run_need_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_TIMEOUT_SECONDS", "7200")  # the whole run, over every slice
    assert Settings().task_timeout_seconds == 7200
    monkeypatch.setenv("SLICE_SECONDS", "600")
    with pytest.raises(ValidationError, match="SLICE_SECONDS"):
        Settings()


def test_an_unknown_code_executor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE_EXECUTOR", "host-shell")
    with pytest.raises(ValidationError, match="CODE_EXECUTOR"):
        Settings()


def test_aca_needs_its_pool_endpoint() -> None:
    with pytest.raises(ValidationError, match="ACA_POOL_MANAGEMENT_ENDPOINT"):
        Settings(CODE_EXECUTOR="aca")


def test_principal_headers_are_trusted_only_with_app_service_auth_or_an_explicit_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WEBSITE_AUTH_ENABLED", "TRUST_PRINCIPAL_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().principal_headers_trusted is False
    for value, trusted in (("True", True), ("true", True), ("False", False), ("", False)):
        monkeypatch.setenv("WEBSITE_AUTH_ENABLED", value)
        assert Settings().principal_headers_trusted is trusted, value
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")
    monkeypatch.setenv("TRUST_PRINCIPAL_HEADERS", "true")
    assert Settings().principal_headers_trusted is True
    monkeypatch.setenv("TRUST_PRINCIPAL_HEADERS", "maybe")
    with pytest.raises(ValidationError):
        Settings()


def test_the_http_auth_level_is_a_setting_like_any_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_AUTH_LEVEL", raising=False)
    assert Settings().http_auth_level == "function"
    monkeypatch.setenv("HTTP_AUTH_LEVEL", " Anonymous ")
    assert Settings().http_auth_level == "anonymous"
    monkeypatch.setenv("HTTP_AUTH_LEVEL", "anonymus")
    with pytest.raises(ValidationError):
        Settings()


def test_the_default_model_name_must_be_a_model_name() -> None:
    assert Settings(DEFAULT_MODEL_NAME="my-deployment").default_model_name == "my-deployment"
    with pytest.raises(ValidationError):
        Settings(DEFAULT_MODEL_NAME="../etc/passwd")


def test_callback_hosts_are_compared_as_urls_hosts_are() -> None:
    settings = Settings(CALLBACK_ALLOWED_HOSTS=" Hooks.Example.COM , *.Contoso.NET., Bücher.example,[::1]")

    assert settings.callback_allowed_hosts == ("hooks.example.com", "*.contoso.net", "xn--bcher-kva.example", "::1")


@pytest.mark.parametrize("entry", ["x..hooks.example.com", "a" * 64 + ".example.com", "hooks.example.com/x", "a b"])
def test_a_callback_host_that_is_no_host_name_is_refused(entry: str) -> None:
    with pytest.raises(ValidationError, match="CALLBACK_ALLOWED_HOSTS"):
        Settings(CALLBACK_ALLOWED_HOSTS=f"hooks.example.com,{entry}")


@pytest.mark.parametrize("secret", ["whsec_abc", "whsec_" + "A" * 8, "whsec_not base64!"])
def test_a_malformed_webhook_secret_is_a_settings_error_that_never_shows_it(secret: str) -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET") as invalid:
        Settings(WEBHOOK_SECRET=secret)

    assert secret not in str(invalid.value)


def test_a_secret_without_the_prefix_is_used_as_it_is() -> None:
    settings = Settings(WEBHOOK_SECRET="any passphrase at all")

    assert settings.webhook_secret is not None
