"""Model clients: Azure OpenAI (key or managed identity) or OpenAI / any OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import openai
from autogen_core.models import ChatCompletionClient, ModelInfo

from ..errors import ConfigurationError
from ..settings import Settings

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


_HTTP_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.DefaultAsyncHttpxClient] = (
    weakref.WeakKeyDictionary()
)


def shared_http_client() -> openai.DefaultAsyncHttpxClient:
    """The running event loop's connection pool, shared by every task's model client.

    A client of its own per task would build an SSL context (about 30 ms of CPU on the event loop)
    and open new TLS connections to the model service for every task. Model clients given this
    pool must not be closed: closing one closes the pool."""
    loop = asyncio.get_running_loop()
    client = _HTTP_CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = _HTTP_CLIENTS[loop] = openai.DefaultAsyncHttpxClient()
    return client


def build_model_client(
    settings: Settings, *, use_aoai: bool, model_name: str, http_client: openai.DefaultAsyncHttpxClient | None = None
) -> ChatCompletionClient:
    """The real autogen client for one task; raises `ConfigurationError` when it cannot be made."""
    problem = settings.provider_problem(use_aoai)
    if problem:
        raise ConfigurationError(problem)
    common: dict[str, Any] = {
        "model": model_name,
        "max_retries": settings.model_max_retries,
        "timeout": settings.model_timeout_seconds,
    }
    if http_client is not None:
        common["http_client"] = http_client
    if settings.model_info is not None:
        common["model_info"] = ModelInfo(**settings.model_info)  # type: ignore[typeddict-item]
    try:
        if use_aoai:
            return _azure_client(settings, model_name, common)
        return _openai_client(settings, common)
    except ValueError as error:
        if "model_info" in str(error):
            raise ConfigurationError(
                f"model '{model_name}' is not one autogen knows; set MODEL_INFO to describe it"
            ) from error
        raise ConfigurationError(f"cannot create the model client: {error}") from error


def _azure_client(settings: Settings, model_name: str, common: dict[str, Any]) -> ChatCompletionClient:
    from autogen_ext.models.openai import AzureOpenAIChatCompletionClient

    auth: dict[str, Any]
    if settings.azure_openai_api_key is not None:
        auth = {"api_key": settings.azure_openai_api_key.get_secret_value()}
    else:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider

        auth = {
            "azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE)
        }
    return AzureOpenAIChatCompletionClient(
        azure_endpoint=settings.azure_openai_endpoint or "",
        azure_deployment=model_name,
        api_version=settings.openai_api_version,
        **auth,
        **common,
    )


def _openai_client(settings: Settings, common: dict[str, Any]) -> ChatCompletionClient:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    extra: dict[str, Any] = {"base_url": settings.openai_base_url} if settings.openai_base_url else {}
    return OpenAIChatCompletionClient(api_key=key, **extra, **common)
