"""The browser's settings: parsing, validation without echoing secrets, and the WebSurfer decision."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from magentic_tasks.browser import CdpRoute, LaunchRoute, WsRoute, web_surfer_decision
from magentic_tasks.browser import _routes as routes
from magentic_tasks.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_model_env")


@pytest.fixture
def no_playwright_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "playwright_chromium", lambda: None)


def test_defaults() -> None:
    settings = Settings()
    assert settings.enable_web_surfer is None  # auto
    assert settings.web_start_page == "https://www.bing.com/"
    assert settings.web_download_max_bytes == 25 * 1024 * 1024
    assert settings.web_allowed_hosts == () and settings.web_blocked_hosts == ()
    assert settings.browser_ws_header_values == {}


def test_host_lists_are_split_and_normalised() -> None:
    settings = Settings(WEB_ALLOWED_HOSTS=" Wiki.Corp. , *.Internal.Example,127.0.0.1,[::1] ", WEB_BLOCKED_HOSTS="")
    assert settings.web_allowed_hosts == ("wiki.corp", "*.internal.example", "127.0.0.1", "::1")
    assert settings.web_blocked_hosts == ()


def test_ws_headers_are_a_secret_that_errors_never_quote() -> None:
    secret = '{"Authorization": "Bearer s3cret-token"}'
    settings = Settings(BROWSER_WS_ENDPOINT="wss://pw.example/browsers", BROWSER_WS_HEADERS=secret)
    assert settings.browser_ws_header_values == {"Authorization": "Bearer s3cret-token"}
    assert "Bearer s3cret-token" in settings.secrets()
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    with pytest.raises(ValidationError) as raised:
        Settings(BROWSER_WS_ENDPOINT="wss://pw.example", BROWSER_WS_HEADERS='{"Authorization": "Bearer s3cret-token"')
    assert "JSON object" in str(raised.value) and "s3cret" not in str(raised.value)
    with pytest.raises(ValidationError) as raised:
        Settings(BROWSER_CDP_URL="http://127.0.0.1:9222", BROWSER_WS_ENDPOINT="wss://pw.example",
                 BROWSER_WS_HEADERS='{"Authorization": "Bearer s3cret-token"}')
    assert "at most one" in str(raised.value) and "s3cret" not in str(raised.value)


@pytest.mark.parametrize(
    "values",
    [
        {"BROWSER_WS_HEADERS": '{"a": "b"}'},  # without an endpoint
        {"BROWSER_CDP_URL": "127.0.0.1:9222"},
        {"BROWSER_WS_ENDPOINT": "https://pw.example"},
        {"WEB_START_PAGE": "file:///etc/passwd"},
        {"WEB_DOWNLOAD_MAX_BYTES": "-1"},
        {"WEB_ALLOWED_HOSTS": "https://wiki.corp"},
        {"ENABLE_WEB_SURFER": "maybe"},
    ],
)
def test_invalid_values_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)


@pytest.mark.usefixtures("no_playwright_browser")
def test_the_decision_names_its_reason(tmp_path: Path) -> None:
    auto = web_surfer_decision(Settings())
    assert not auto.enabled and "ENABLE_WEB_SURFER=auto, but no browser is configured" in auto.reason
    off = web_surfer_decision(Settings(ENABLE_WEB_SURFER="false", BROWSER_CDP_URL="http://127.0.0.1:9222"))
    assert (off.enabled, off.reason) == (False, "ENABLE_WEB_SURFER=false")
    missing = web_surfer_decision(Settings(ENABLE_WEB_SURFER="true", BROWSER_EXECUTABLE_PATH=str(tmp_path / "none")))
    assert not missing.enabled and "is not an executable" in missing.reason

    executable = tmp_path / "chromium"
    executable.write_text("")
    assert not web_surfer_decision(Settings(BROWSER_EXECUTABLE_PATH=str(executable))).enabled
    executable.chmod(0o755)
    launch = web_surfer_decision(Settings(BROWSER_EXECUTABLE_PATH=str(executable)))
    assert launch.enabled and launch.route == LaunchRoute(executable)
    cdp = web_surfer_decision(Settings(ENABLE_WEB_SURFER="auto", BROWSER_CDP_URL="http://10.0.0.4:9222/x?token=t"))
    assert cdp.enabled and cdp.route == CdpRoute("http://10.0.0.4:9222/x?token=t")
    assert "10.0.0.4:9222" in cdp.reason and "token" not in cdp.reason
    ws = web_surfer_decision(
        Settings(BROWSER_WS_ENDPOINT="wss://pw.example/browsers?key=k", BROWSER_WS_HEADERS='{"Authorization": "B t"}')
    )
    assert ws.enabled and ws.route == WsRoute("wss://pw.example/browsers?key=k", {"Authorization": "B t"})
    assert "key=k" not in ws.reason and "B t" not in repr(ws)


def test_auto_finds_the_browser_playwright_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import playwright

    browsers = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    revision = next(b["revision"] for b in json.loads(browsers.read_text())["browsers"] if b["name"] == "chromium")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert web_surfer_decision(Settings()).enabled is False
    chrome = tmp_path / f"chromium-{revision}" / "chrome-linux64" / "chrome"
    chrome.parent.mkdir(parents=True)
    chrome.write_text("")
    chrome.chmod(0o755)
    decision = web_surfer_decision(Settings())
    assert decision.enabled and decision.route == LaunchRoute(None)
    assert "installed by playwright" in decision.reason
