"""Worker processes shared by the tests of the real-worker tier whose apps have the same settings.

A worker process gets the app settings as its environment when it starts, as the host passes them;
starting one and importing the app takes about a second, and its first activity pays autogen's
import (2-3 s). So the tests whose apps have identical settings (a *settings combination*) run in
turn on one worker process, started and indexed (init, metadata, one load per function, through the
worker library's own entry points) for the first of them. What makes their settings identical:

* the model endpoint is the combination's `ModelRelay`: a loopback port that forwards each
  connection, byte for byte, to the scripted model server of the test being run (each test has its
  own server, with its own script, faults and counters); when the test ends every relayed
  connection is closed, so nothing of one test reaches the next one's server;
* `TASKS_DB_PATH` and `TASK_WORKSPACE_ROOT` are in the combination's folder: its tests share the
  SQLite file, and each sees only the tasks it created (`WorkerHarness.db_rows`). A test that needs
  a file of its own (one that lists every task) is a combination of its own (`own_files`).

Everything else stays the test's own: the fake Durable host (instances, activity calls, output
bindings, HTTP exchanges), the model server, and the worker's log as the test sees it (what the
worker logged while starting and indexing, then what it logged during the test). A worker goes back
to the pool only once it has answered every request sent to it; otherwise, or if it has exited, it
is stopped, and the next test of its settings gets a fresh one. A worker is used only if its
environment is exactly the one the test's settings give.

While a test runs, the workers of the next tests' settings (as their `worker_app` markers declare
them) are started and indexed in the background, one after the other, with ``--preload`` of the
module the run activity imports (tests/support/worker_process.py: imported on a thread once every
function is loaded); a worker no later test needs is stopped. A worker started when a test needs it
(the first test's, or one whose settings were not foreseen) pays that import on its first activity,
as in Azure.

The pool, the relays and the workers' streams live on an event loop in a thread of their own, so
they outlive each test's event loop; the tests reach them through `FunctionsWorker`'s calls, which
run on that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from activities.run_task import RUN_MODULE
from tests.e2e.conftest import Harness, Provider, app_environment
from tests.support.model_server import ScriptedModelServer
from tests.support.worker_host import FunctionsWorker

_T = TypeVar("_T")

# Variables of the test process that are no app setting (pytest sets this one for each test).
NOT_SETTINGS = frozenset({"PYTEST_CURRENT_TEST"})
# Idle workers kept for later tests (each holds autogen, about 175 MB, once its first activity ran).
MAX_IDLE_WORKERS = 4
# How long a worker may take to answer its last requests when its test ends before it is stopped instead.
QUIET_TIMEOUT = 10.0
# What a worker started ahead imports once it has loaded every function: what the run activity imports.
PRELOAD = (RUN_MODULE,)


class BackgroundLoop:
    """An event loop running in a daemon thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="shared-workers", daemon=True)
        self._thread.start()

    def submit(self, work: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` on this loop; awaited from the caller's loop."""
        return await asyncio.wrap_future(self.submit(work))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


class ModelRelay:
    """A loopback port that forwards every connection to the attached model server, byte for byte."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._target: ScriptedModelServer | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> ModelRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        await self.detach()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None, "relay not started"
        return int(self._server.sockets[0].getsockname()[1])

    # What `app_environment` reads of a model server.
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def attach(self, server: ScriptedModelServer) -> None:
        assert self._target is None, "one test at a time per settings combination"
        self._target = server

    async def detach(self) -> None:
        """Forward nothing more, and close every relayed connection (both ends)."""
        self._target = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self._target
        if target is None:  # no test running: refuse, as a stopped server would
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target.port)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self._open |= pair

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:  # one side hung up: so does the other (the model server notices hang-ups)
                sink.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._open -= pair


@dataclass(frozen=True)
class AppSettings:
    """What a test's app is started with: the provider, the settings it gives (None unsets), and, for
    a test that needs a SQLite file of its own, that test's id."""

    provider: Provider = "openai"
    env: tuple[tuple[str, object], ...] = ()
    own_files: str | None = None

    @classmethod
    def of(cls, provider: Provider, env: Mapping[str, object], own_files: str | None = None) -> AppSettings:
        return cls(provider, tuple(sorted(env.items())), own_files)

    @property
    def key(self) -> tuple[object, ...]:
        return self.provider, tuple((name, repr(value)) for name, value in self.env), self.own_files


class SettingsCombination:
    """What the tests of one settings combination share: the folder of their files, the model relay,
    and the worker process when no test is using it."""

    def __init__(self, folder: Path, relay: ModelRelay) -> None:
        self.folder = folder
        self.relay = relay
        self.idle: FunctionsWorker | None = None
        self.warming: asyncio.Future[None] | None = None  # done when the worker being started ahead is parked
        self.leased = False

    def values(self, settings: AppSettings) -> dict[str, object]:
        """The app settings: `app_environment`'s, with the relay as the model server and files in the folder."""
        relay = cast(ScriptedModelServer, self.relay)  # it has what app_environment reads of a server
        return app_environment(relay, self.folder, settings.provider, dict(settings.env))


class WorkerPool:
    """Indexed worker processes, one per settings combination, lent to one test at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.background = BackgroundLoop()
        self._combinations: dict[tuple[object, ...], SettingsCombination] = {}
        self._idle: OrderedDict[SettingsCombination, None] = OrderedDict()  # least recently used first
        self._environments: dict[FunctionsWorker, dict[str, str]] = {}  # each running worker's environment
        self._stopping: set[asyncio.Task[None]] = set()
        self._upcoming: list[tuple[SettingsCombination, dict[str, str]]] = []  # still to be started ahead
        self._wanted: set[SettingsCombination] = set()  # those of the next tests
        self._needed: set[SettingsCombination] | None = None  # those of every test after the current one, once known
        self._starter: asyncio.Task[None] | None = None
        self.started = 0  # worker processes started when a test needed one
        self.started_ahead = 0  # ... and ahead of the test that needed one
        self.unused_ahead = 0  # started ahead, then not used: their environment was not the test's

    @property
    def combinations(self) -> list[SettingsCombination]:
        return list(self._combinations.values())

    def combination(self, settings: AppSettings) -> SettingsCombination:
        found = self._combinations.get(settings.key)
        if found is None:
            relay = self.background.submit(ModelRelay().start()).result(timeout=10)
            found = SettingsCombination(self.root / f"app-{len(self._combinations) + 1}", relay)
            self._combinations[settings.key] = found
        return found

    # -- lending

    @contextlib.asynccontextmanager
    async def lease(self, settings: AppSettings, model: ScriptedModelServer) -> AsyncIterator[FunctionsWorker]:
        """A started and indexed worker whose environment is this process's now (the app settings of
        `settings` must be set), its log as a fresh worker's, the relay forwarding to `model`."""
        combination = self.combination(settings)
        worker = await self.background.run(self._take(combination, environment_now()))
        worker.new_log_window()
        await self.background.run(combination.relay.attach(model))
        try:
            yield worker
        finally:
            await self.background.run(combination.relay.detach())
            await self.background.run(self._give_back(combination, worker))

    async def _take(self, combination: SettingsCombination, environment: dict[str, str]) -> FunctionsWorker:
        assert not combination.leased, "one test at a time per settings combination"
        combination.leased = True
        try:
            if combination.warming is not None:  # being started ahead: it is parked when ready
                await asyncio.wait({combination.warming})
            worker, combination.idle = combination.idle, None
            self._idle.pop(combination, None)
            if worker is not None and self._environments.get(worker) != environment:
                self.unused_ahead += 1
                self._retire(worker)
                worker = None
            if worker is not None and not worker.running:
                self._retire(worker)
                worker = None
            if worker is None:
                worker = await self._start(environment, preload=())
                self.started += 1
            return worker
        except BaseException:
            combination.leased = False
            raise

    async def _give_back(self, combination: SettingsCombination, worker: FunctionsWorker) -> None:
        combination.leased = False
        if not (await worker.answered(QUIET_TIMEOUT) and worker.running):
            self._retire(worker)
            return
        self._park(combination, worker)

    # -- starting ahead

    def start_ahead(self, upcoming: list[tuple[AppSettings, dict[str, str]]], current: AppSettings,
                    later: list[AppSettings]) -> None:
        """Start and index, one after the other in the background, a worker for each of `upcoming`
        (settings, and the environment they give) that has none (idle, being started, or in use);
        replaces what was still to be started. `current`, `later`: the settings of the test about to
        run and of every test after it; an idle worker none of them needs is stopped, and so is the
        current test's when it ends, if no later test needs it."""
        combinations = [(self.combination(settings), environment) for settings, environment in upcoming]
        needed = {self.combination(settings) for settings in later}
        self.background.loop.call_soon_threadsafe(self._start_ahead, combinations, self.combination(current), needed)

    def _start_ahead(self, upcoming: list[tuple[SettingsCombination, dict[str, str]]], current: SettingsCombination,
                     later: set[SettingsCombination]) -> None:
        self._upcoming = list(upcoming)
        self._wanted = {combination for combination, _ in upcoming}
        self._needed = later
        for combination in [idle for idle in self._idle if idle not in later and idle is not current]:
            self._unpark(combination)
        if self._starter is None or self._starter.done():
            self._starter = asyncio.ensure_future(self._start_upcoming())

    async def _start_upcoming(self) -> None:
        while self._upcoming:
            combination, environment = self._upcoming.pop(0)
            if combination.leased or combination.idle is not None:
                continue
            warming = combination.warming = asyncio.get_running_loop().create_future()
            try:
                worker = await self._start(environment, preload=PRELOAD)
            except Exception:  # the test that needs it starts one itself, and reports what fails
                pass
            else:
                self.started_ahead += 1
                self._park(combination, worker)
            finally:
                combination.warming = None
                warming.set_result(None)

    # -- workers

    async def _start(self, environment: dict[str, str], preload: tuple[str, ...]) -> FunctionsWorker:
        worker = FunctionsWorker(env=environment, inherit_environment=False, preload=preload)
        await worker.start()
        try:
            await worker.index()
        except BaseException:
            await worker.stop()
            raise
        self._environments[worker] = dict(environment)
        return worker

    def _park(self, combination: SettingsCombination, worker: FunctionsWorker) -> None:
        """Keep `worker` for the combination's next test; beyond `MAX_IDLE_WORKERS`, stop the least
        recently used idle worker that none of the next tests needs (else the least recently used);
        stop `worker` at once if no later test needs it."""
        if self._needed is not None and combination not in self._needed:
            self._retire(worker)
            return
        combination.idle = worker
        self._idle[combination] = None
        self._idle.move_to_end(combination)
        while len(self._idle) > MAX_IDLE_WORKERS:
            unwanted = [idle for idle in self._idle if idle not in self._wanted and idle is not combination]
            self._unpark(unwanted[0] if unwanted else next(iter(self._idle)))

    def _unpark(self, combination: SettingsCombination) -> None:
        """Stop the combination's idle worker."""
        self._idle.pop(combination, None)
        if combination.idle is not None:
            self._retire(combination.idle)
            combination.idle = None

    def _retire(self, worker: FunctionsWorker) -> None:
        """Stop `worker` in the background (a process with autogen loaded takes a moment to exit)."""
        self._environments.pop(worker, None)
        stopping = asyncio.ensure_future(worker.stop())
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    async def _close(self) -> None:
        self._upcoming = []
        if self._starter is not None:
            await asyncio.wait({self._starter})
        for combination in self._combinations.values():
            if combination.idle is not None:
                self._retire(combination.idle)
                combination.idle = None
            await combination.relay.stop()
        await asyncio.gather(*self._stopping, return_exceptions=True)

    def close(self) -> None:
        self.background.submit(self._close()).result(timeout=120)
        self.background.close()


def environment_now(values: Mapping[str, object] | None = None) -> dict[str, str]:
    """This process's environment without what is no app setting, with `values` applied as
    `set_environment` applies them (None unsets): a worker process's environment."""
    environment = {name: value for name, value in os.environ.items() if name not in NOT_SETTINGS}
    for name, value in (values or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = str(value)
    return environment


@dataclass
class WorkerHarness(Harness):
    """A test's app on a shared worker: the SQLite file as this test's tasks left it.

    Rows of tasks that were in the file when the test's app started (earlier tests' tasks, by task
    id) are not this test's: `db_rows` leaves them out."""

    earlier_tasks: frozenset[str] = frozenset()

    def db_rows(self, table: str) -> list[dict[str, Any]]:
        return [row for row in super().db_rows(table) if row.get("task_id") not in self.earlier_tasks]


def task_ids_in(db_path: Path) -> frozenset[str]:
    """Every task id the mirror at `db_path` holds, in any table of the shared file or of a task's own
    file (read-only); none without a file."""
    ids: set[str] = set()
    for file in (db_path, *(db_path.parent / "tasks").glob("*/*.db")):
        if not file.is_file():
            continue
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
                if "task_id" in columns:
                    ids.update(str(task_id) for (task_id,) in conn.execute(f'SELECT DISTINCT task_id FROM "{table}"'))
        finally:
            conn.close()
    return frozenset(ids)
