"""A property-based API fuzzer driven by the OpenAPI document (schemathesis) against the running app.

The app runs on the fake Durable host, which serves every HTTP route on 127.0.0.1 (in a thread of
its own here, since schemathesis calls are synchronous), against the scripted model server: tasks
the fuzzer manages to create really run. Every generated request, valid or not, must get an answer
the document describes (status code, content type, headers, body schema) and never a 5xx.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from magentic_tasks.openapi import openapi_document
from magentic_tasks.settings import get_settings
from tests.e2e.conftest import HOST_JSON, OPENAI_KEY
from tests.support.durable_host import FakeDurableHost
from tests.support.model_server import ScriptedModelServer

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app's base URL, served by a fake host on its own event loop in a background thread."""
    import function_app

    folder: Path = tmp_path_factory.mktemp("fuzz")
    with ScriptedModelServer() as model, pytest.MonkeyPatch.context() as env:
        for name, value in {
            "OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": OPENAI_KEY, "NO_PROXY": "127.0.0.1",
            "TASKS_DB_PATH": str(folder / "tasks.db"), "TASK_WORKSPACE_ROOT": str(folder / "workspaces"),
            "MODEL_MAX_RETRIES": "0", "CANCEL_POLL_SECONDS": "0.5",
        }.items():
            env.setenv(name, value)
        get_settings.cache_clear()
        loop = asyncio.new_event_loop()
        started = threading.Event()
        host = FakeDurableHost(function_app.app, host_json=HOST_JSON, timer_scale=0)

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(host.start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        assert started.wait(30), "the fake host did not start"
        try:
            yield host.base_url
        finally:
            asyncio.run_coroutine_threadsafe(host.stop(), loop).result(60)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            get_settings.cache_clear()
        assert host.internal_errors == [], host.internal_errors


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_request_gets_an_answer_the_document_describes(case: schemathesis.Case, live_app: str) -> None:
    if case.query and "wait" in case.query:
        case.query["wait"] = 0  # a long poll on an unknown or finished task answers at once anyway
    response = case.call(base_url=live_app, timeout=60)
    case.validate_response(response, checks=CHECKS)



@pytest.mark.parametrize("path", ["/tasks/a%0Ab", "/tasks/a%0Ab/result"])
def test_a_task_id_with_a_line_break_reaches_the_app_and_is_a_documented_422(path: str, live_app: str) -> None:
    """Found by the fuzzer: the fake host's front door once answered such paths itself (aiohttp's
    `.*` stops at a line break) with a text/plain 404 no host route gives."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(live_app + path, timeout=30)
    assert refused.value.code == 422
    assert refused.value.headers["Content-Type"].startswith("application/json")
    assert json.loads(refused.value.read())["detail"][0]["type"] == "string_pattern_mismatch"
