"""The real-worker tier: the app loaded, indexed and invoked by the Functions Python worker's own code.

`start_worker_app(script, faults, provider=..., **env)` is `tests/e2e`'s `start_app` with one
difference: every function runs in a separate worker process (tests/support/worker_process.py
around `azure_functions_runtime`), reached the way the host reaches it. The app settings are the
worker process's environment, as the host passes them.

A test declares its app's settings with `@pytest.mark.worker_app(**settings)` (added to those given
to `start_worker_app`), so that the worker for them can be started while the test before it runs;
`own_files=True` gives the app a SQLite file no other test uses. Tests whose apps have the same
settings run in turn on one worker process (tests/worker/sharing.py): each still has its own fake
Durable host and model server, sees the worker's log from its start plus what was logged during
the test, and sees only its own tasks in the SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    HOST_JSON,
    TIMER_SCALE,
    Harness,
    Provider,
    StartApp,
    app_scope,
    set_environment,
)
from tests.support.model_server import Faults, Script, ScriptedModelServer
from tests.support.worker_host import FunctionsWorker, WorkerDurableHost
from tests.worker.sharing import AppSettings, WorkerHarness, WorkerPool, environment_now, task_ids_in

_POOL_REPORT = pytest.StashKey[str]()
# How many of the next tests' settings combinations get their worker started in the background.
START_AHEAD = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "worker_app(own_files=False, **settings): the app settings of the test's worker app (tests/worker)",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _POOL_REPORT in config.stash:
        terminalreporter.write_line(config.stash[_POOL_REPORT])


def worker_of(app: Harness) -> FunctionsWorker:
    assert isinstance(app.host, WorkerDurableHost)
    return app.host.worker


def declared_settings(item: pytest.Item, provider: Provider = "openai", **env: object) -> AppSettings:
    """The app settings of `item`'s worker app: its `worker_app` marker's, then `env`."""
    marker = item.get_closest_marker("worker_app")
    declared = dict(marker.kwargs) if marker is not None else {}
    own_files = item.nodeid if declared.pop("own_files", False) else None
    return AppSettings.of(provider, {**declared, **env}, own_files)


@pytest.fixture(scope="session")
def worker_pool(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """The worker processes of the session, one per settings combination, and their model relays."""
    pool = WorkerPool(tmp_path_factory.mktemp("worker-apps"))
    yield pool
    pool.close()
    pytestconfig.stash[_POOL_REPORT] = (
        f"worker apps: {pool.started + pool.started_ahead} worker processes for {len(pool.combinations)} app settings "
        f"({pool.started_ahead} started ahead of their test, {pool.unused_ahead} of them unused)"
    )


def start_next_workers(request: pytest.FixtureRequest, pool: WorkerPool) -> None:
    """Start, in the background, the workers of the next tests with other app settings than this
    one's; stop the idle workers neither this test nor a later one needs."""
    items = request.session.items
    if request.node not in items:
        return
    current = declared_settings(request.node)
    later = [declared_settings(item) for item in items[items.index(request.node) + 1:]
             if isinstance(item, pytest.Function) and "start_worker_app" in item.fixturenames]
    upcoming: dict[tuple[object, ...], tuple[AppSettings, dict[str, str]]] = {}
    for settings in later:
        if len(upcoming) == START_AHEAD:
            break
        if settings.key != current.key and settings.key not in upcoming:
            upcoming[settings.key] = (settings, environment_now(pool.combination(settings).values(settings)))
    pool.start_ahead(list(upcoming.values()), current, later)


@pytest.fixture
async def start_worker_app(
    request: pytest.FixtureRequest,
    start_model_server: Callable[..., ScriptedModelServer],
    monkeypatch: pytest.MonkeyPatch,
    worker_pool: WorkerPool,
) -> AsyncIterator[StartApp]:
    start_next_workers(request, worker_pool)  # the environment is now this test's, before its settings
    async with app_scope() as (stack, harnesses):

        async def start(
            script: Script | None = None,
            faults: Faults | None = None,
            *,
            provider: Provider = "openai",
            server: ScriptedModelServer | None = None,
            **env: object,
        ) -> Harness:
            model = server or start_model_server(script, faults)
            settings = declared_settings(request.node, provider, **env)
            values = worker_pool.combination(settings).values(settings)
            set_environment(monkeypatch, values)
            db_path = Path(str(values["TASKS_DB_PATH"]))
            worker = await stack.enter_async_context(worker_pool.lease(settings, model))
            host = await stack.enter_async_context(
                WorkerDurableHost(worker, host_json=HOST_JSON, timer_scale=TIMER_SCALE)
            )
            # A worker process pays autogen's import on its first run: tasks get longer to finish.
            harness = WorkerHarness(host=host, server=model, db_path=db_path, provider=provider,
                                    finish_timeout=60.0, earlier_tasks=task_ids_in(db_path))
            harnesses.append(harness)
            return harness

        yield start


@pytest.fixture
async def worker_app(start_worker_app: StartApp) -> Harness:
    """The app on OpenAI in a real worker, the settings of the test's `worker_app` marker (if any),
    the default script and no faults."""
    return await start_worker_app()
