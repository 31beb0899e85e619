"""The real-worker tier: the app loaded, indexed and invoked by the Functions Python worker's own code.

`start_worker_app(script, faults, provider=..., **env)` is `tests/e2e`'s `start_app` with one
difference: every function runs in a separate worker process (tests/support/worker_process.py
around `azure_functions_runtime`), reached the way the host reaches it. The app settings are the
worker process's environment, as the host passes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    HOST_JSON,
    TIMER_SCALE,
    Harness,
    Provider,
    StartApp,
    app_environment,
    assert_openapi_allows,
    set_environment,
)
from tests.support.model_server import Faults, Script, ScriptedModelServer
from tests.support.worker_host import FunctionsWorker, WorkerDurableHost


def worker_of(app: Harness) -> FunctionsWorker:
    assert isinstance(app.host, WorkerDurableHost)
    return app.host.worker


@pytest.fixture
async def start_worker_app(
    start_model_server: Callable[..., ScriptedModelServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[StartApp]:
    harnesses: list[Harness] = []
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            script: Script | None = None,
            faults: Faults | None = None,
            *,
            provider: Provider = "openai",
            server: ScriptedModelServer | None = None,
            **env: Any,
        ) -> Harness:
            model = server or start_model_server(script, faults)
            values = app_environment(model, tmp_path, provider, env)
            set_environment(monkeypatch, values)  # the worker process inherits this environment
            worker = await stack.enter_async_context(FunctionsWorker())
            await worker.index()
            host = await stack.enter_async_context(
                WorkerDurableHost(worker, host_json=HOST_JSON, timer_scale=TIMER_SCALE)
            )
            db_path = Path(str(values["TASKS_DB_PATH"]))
            harness = Harness(host=host, server=model, db_path=db_path, provider=provider, finish_timeout=60.0)
            harnesses.append(harness)
            return harness

        yield start
    assert_openapi_allows(harnesses)


@pytest.fixture
async def worker_app(start_worker_app: StartApp) -> Harness:
    """The app on OpenAI in a real worker, the default script and no faults."""
    return await start_worker_app()
