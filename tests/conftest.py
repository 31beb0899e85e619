"""Shared pytest fixtures. Keep each group under its own heading."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from magentic_tasks.settings import Settings

if TYPE_CHECKING:  # the server imports autogen; only tests that use it pay for that
    from tests.support.azurite import Azurite
    from tests.support.model_server import Faults, Script, ScriptedModelServer

# ---- Scripted model server (tests/support/model_server.py) ----------------------------------

# Variables the openai SDK reads on its own, and proxies that would swallow 127.0.0.1 traffic.
_SDK_ENV_VARS = (
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_WEBHOOK_SECRET",
    "AZURE_OPENAI_AD_TOKEN",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _settings_env_vars() -> set[str]:
    names: set[str] = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names.update(choice for choice in choices if isinstance(choice, str))
    return names


@pytest.fixture
def clean_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings or openai SDK variables leak in from the environment; 127.0.0.1 is never proxied."""
    for name in sorted(_settings_env_vars() | set(_SDK_ENV_VARS)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def start_model_server(clean_model_env: None) -> Iterator[Callable[..., ScriptedModelServer]]:
    """Start a `ScriptedModelServer(script, faults)`; every one started is stopped after the test."""
    from tests.support.model_server import ScriptedModelServer

    started: list[ScriptedModelServer] = []

    def start(script: Script | None = None, faults: Faults | None = None) -> ScriptedModelServer:
        server = ScriptedModelServer(script, faults).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def model_server(start_model_server: Callable[..., ScriptedModelServer]) -> ScriptedModelServer:
    """A scripted model server with the default script and no faults."""
    return start_model_server()


# ---- Azurite's blob service (tests/support/azurite.py) -----------------------------------------


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service for the whole session (skips, saying why, without node or the package)."""
    from tests.support.azurite import Azurite, find_azurite

    launcher, why = find_azurite()
    if launcher is None:
        pytest.skip(why)
    server = Azurite.start(launcher, tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


# ---- Debian's Chromium (tests/support/web_site.py) --------------------------------------------


@pytest.fixture
def chromium() -> str:
    """The Chromium executable; the test is skipped, with the reason, when there is none."""
    from tests.support.web_site import CHROMIUM, chromium_missing

    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    return CHROMIUM
