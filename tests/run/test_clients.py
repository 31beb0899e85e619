"""The model client for a task: which provider, which credentials, which model description."""

from __future__ import annotations

import pytest
from autogen_ext.models.openai import AzureOpenAIChatCompletionClient, OpenAIChatCompletionClient

from magentic_tasks.errors import ConfigurationError
from magentic_tasks.run import build_model_client
from magentic_tasks.settings import Settings

UNKNOWN_MODEL_INFO = (
    '{"vision": false, "function_calling": true, "json_output": true, "family": "unknown", "structured_output": false}'
)


def test_azure_with_a_key_uses_the_key_and_the_deployment() -> None:
    settings = Settings(AZURE_OPENAI_ENDPOINT="https://example.openai.azure.com", AZURE_OPENAI_API_KEY="azure-key-1")
    client = build_model_client(settings, use_aoai=True, model_name="gpt-4o")
    assert isinstance(client, AzureOpenAIChatCompletionClient)
    inner = client._client  # the openai SDK client autogen wraps
    assert inner.api_key == "azure-key-1"
    assert str(inner.base_url) == "https://example.openai.azure.com/openai/deployments/gpt-4o/"


def test_azure_without_a_key_uses_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    settings = Settings(AZURE_OPENAI_ENDPOINT="https://example.openai.azure.com")
    client = build_model_client(settings, use_aoai=True, model_name="gpt-4o")
    assert isinstance(client, AzureOpenAIChatCompletionClient)
    assert client._client._azure_ad_token_provider is not None  # DefaultAzureCredential's bearer tokens


def test_openai_honours_the_base_url_for_compatible_servers() -> None:
    settings = Settings(OPENAI_BASE_URL="http://127.0.0.1:11434/v1", MODEL_INFO=UNKNOWN_MODEL_INFO)
    client = build_model_client(settings, use_aoai=False, model_name="llama3.1")
    assert isinstance(client, OpenAIChatCompletionClient)
    assert str(client._client.base_url) == "http://127.0.0.1:11434/v1/"
    assert client.model_info["family"] == "unknown"


def test_a_provider_that_is_not_configured_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        build_model_client(Settings(), use_aoai=True, model_name="gpt-4o")


def test_an_unknown_model_without_model_info_says_to_set_it() -> None:
    with pytest.raises(ConfigurationError, match="MODEL_INFO"):
        build_model_client(Settings(OPENAI_API_KEY="sk-x"), use_aoai=False, model_name="my-local-model")
