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

import pytest

from tests.e2e.conftest import HOST_JSON, TIMER_SCALE, Harness, StartApp, app_starter
from tests.support.durable_host import FakeDurableHost
from tests.support.model_server import ScriptedModelServer
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
    async def through_a_worker(stack: contextlib.AsyncExitStack) -> FakeDurableHost:
        worker = await stack.enter_async_context(FunctionsWorker())  # inherits the settings just set
        await worker.index()
        return await stack.enter_async_context(WorkerDurableHost(worker, host_json=HOST_JSON, timer_scale=TIMER_SCALE))

    # A worker process pays autogen's import on its first run: tasks get longer to finish.
    async with app_starter(start_model_server, monkeypatch, tmp_path, through_a_worker, finish_timeout=60.0) as start:
        yield start


@pytest.fixture
async def worker_app(start_worker_app: StartApp) -> Harness:
    """The app on OpenAI in a real worker, the default script and no faults."""
    return await start_worker_app()
