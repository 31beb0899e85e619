"""The host's side of the real-worker tier: start a worker process, index the app, invoke functions.

`FunctionsWorker` does what the Functions host does with a Python language worker: it starts the
worker process (tests/support/worker_process.py, around the real ``azure_functions_runtime``
library) in the app's directory with the app settings as its environment, sends
``WorkerInitRequest`` with the host's capabilities, ``FunctionsMetadataRequest`` (worker indexing
of the v2 programming model), one ``FunctionLoadRequest`` per function, then
``InvocationRequest``s carrying binding data the way the host sends it:

* HTTP: ``RpcHttp`` with lower-cased header names, route parameters in ``params``, the query in
  ``query``, and the body as ``bytes`` (the worker advertises ``RawHttpBodyBytes``; with
  ``RpcHttpBodyOnly`` no ``rawBody`` and, with ``RpcHttpTriggerMetadataRemoved``, no trigger
  metadata);
* durableClient: the starter JSON as a ``string``;
* orchestrationTrigger: the context JSON as a ``string``; activityTrigger: the input as ``json``;
* queueTrigger: the message as a ``string`` with trigger metadata ``Id``, ``DequeueCount``,
  ``InsertionTime``, ``ExpirationTime``, ``NextVisibleTime``, ``PopReceipt``;
* timerTrigger: ``json`` ``{"Schedule": ..., "ScheduleStatus": ..., "IsPastDue": ...}``.

`WorkerDurableHost` is the fake Durable host (tests/support/durable_host.py) with every function
call going through such a worker instead of in-process calls, and its function index built from
the worker's own metadata (the raw bindings the host would read).

A worker's stream lives on the event loop that started it (its "home"); calls from any other loop
(another thread's) are run on the home loop and awaited from the caller's, so one worker process
can serve several tests' event loops in turn (tests/worker/sharing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import azure.functions as func

from tests.support.durable_host import (
    FakeDurableHost,
    FunctionIndex,
    OutputBindingValue,
    RegisteredFunction,
    index_functions,
)
from tests.support.worker_wire import encode, load_protos, read_message

ROOT = Path(__file__).resolve().parents[2]

# What the host tells the worker it can do (WorkerInitRequest.capabilities).
HOST_CAPABILITIES = {
    "MultiStream": "true",
    "HandlesWorkerTerminateMessage": "true",
    "HandlesInvocationCancelMessage": "true",
    "IncludeEmptyEntriesInMessagePayload": "true",
}
HOST_VERSION = "4.1037.0.0"
_ERROR_LEVELS = ("Error", "Critical")
_T = TypeVar("_T")


class WorkerError(RuntimeError):
    """The worker answered a request with a failure; the message is the worker's own."""


@dataclasses.dataclass(frozen=True)
class IndexedFunction:
    """One function as the worker reported it to the host."""

    function_id: str
    name: str
    bindings: tuple[dict[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class WorkerLog:
    level: str
    category: str
    message: str


class FunctionsWorker:
    """A real Python language worker process, driven as the Functions host drives one."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        app_dir: Path = ROOT,
        python: str = sys.executable,
        timeout: float = 120.0,
        inherit_environment: bool = True,
        preload: tuple[str, ...] = (),
    ) -> None:
        """``env`` is added to this process's environment (or, without ``inherit_environment``, is
        the whole environment): the app settings, as the host passes them. ``preload``: modules the
        worker process imports on a thread once every function is loaded (tests/support/worker_process.py)."""
        self.app_dir = app_dir
        self.preload = preload
        self.python = python
        self.timeout = timeout
        self.env = {**(os.environ if inherit_environment else {}), **(env or {})}
        self.env.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
        self.env.setdefault("AzureWebJobsFeatureFlags", "EnableWorkerIndexing")
        # The worker driver (tests.support.worker_process) is importable from any app directory,
        # behind the app directory itself, as the worker's own package is in Azure.
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.env.get("PYTHONPATH")) if p)
        self.protos = load_protos()
        self.logs: list[WorkerLog] = []
        self.startup_logs: list[WorkerLog] = []  # what the worker logged up to the end of index()
        self.functions: dict[str, IndexedFunction] = {}
        self.init_response: Any = None
        # Requests sent and not answered yet (also those whose caller stopped waiting).
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._home: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[None] | None = None
        self._stderr = b""

    # -- lifecycle

    async def _at_home(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` on the worker's home loop, awaited from the caller's loop."""
        if self._home is None or self._home is asyncio.get_running_loop():
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._home))

    async def start(self) -> FunctionsWorker:
        self._home = asyncio.get_running_loop()
        self._connected = self._home.create_future()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        preload = [argument for module in self.preload for argument in ("--preload", module)]
        self._process = await asyncio.create_subprocess_exec(
            self.python, "-m", "tests.support.worker_process", "--host", "127.0.0.1", "--port", str(port), *preload,
            cwd=str(self.app_dir), env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        waiting: asyncio.Future[Any] = asyncio.ensure_future(self._process.wait())
        done, _ = await asyncio.wait({self._connected, waiting}, timeout=self.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._connected not in done:
            waiting.cancel()
            stderr = (await self._process.stderr.read()).decode(errors="replace") if self._process.stderr else ""
            raise WorkerError(f"the worker process did not connect (exit {self._process.returncode}): {stderr}")
        waiting.cancel()
        return self

    async def stop(self) -> None:
        await self._at_home(self._stop())

    async def _stop(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(Exception):
                self._send(self.protos.StreamingMessage(worker_terminate=self.protos.WorkerTerminate()))
                await self._writer.drain()
        if self._process is not None:
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
            if self._process.stderr is not None:
                self._stderr = await self._process.stderr.read()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FunctionsWorker:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def stderr(self) -> str:
        return self._stderr.decode(errors="replace")

    @property
    def running(self) -> bool:
        """The process is up and its stream open."""
        return (self._process is not None and self._process.returncode is None
                and self._writer is not None and not self._writer.is_closing())

    def new_log_window(self) -> None:
        """From now on `logs` holds what the worker logged while starting and indexing, then what it
        logs next: what a test would see from a worker started for it."""
        self.logs = list(self.startup_logs)

    def errors_logged(self) -> list[WorkerLog]:
        return [log for log in self.logs if log.level in _ERROR_LEVELS]

    # -- the stream

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = await read_message(reader)
        assert hello is not None and hello.WhichOneof("content") == "start_stream", hello
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader))
        assert self._connected is not None
        self._connected.set_result(None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        levels = self.protos.RpcLog.Level
        while (message := await read_message(reader)) is not None:
            kind = message.WhichOneof("content")
            if kind == "rpc_log":
                log = message.rpc_log
                self.logs.append(WorkerLog(levels.Name(log.level), log.category, log.message))
                continue
            future = self._pending.pop(message.request_id, None)
            if future is not None and not future.done():
                future.set_result(getattr(message, kind))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerError("the worker closed the stream"))

    def _send(self, message: Any) -> None:
        assert self._writer is not None, "worker not started"
        self._writer.write(encode(message))

    async def request(self, field: str, payload: Any) -> Any:
        """Send one request and wait for its response (matched by request id)."""
        return await self._at_home(self._request(field, payload))

    async def _request(self, field: str, payload: Any) -> Any:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        self._pending[request_id] = future
        self._send(self.protos.StreamingMessage(request_id=request_id, **{field: payload}))
        assert self._writer is not None
        await self._writer.drain()
        # A caller that stops waiting (cancelled, timed out) leaves the request pending until answered.
        return await asyncio.wait_for(asyncio.shield(future), self.timeout)

    async def answered(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Whether the worker has answered every request sent to it, waiting up to `timeout` seconds."""
        return await self._at_home(self._answered(timeout))

    async def _answered(self, timeout: float) -> bool:  # noqa: ASYNC109
        if self._pending:
            await asyncio.wait(list(self._pending.values()), timeout=timeout)
        return not self._pending

    def _check(self, what: str, result: Any) -> None:
        if result.status != self.protos.StatusResult.Success:
            raise WorkerError(f"{what} failed: {result.exception.message}")

    # -- what the host asks

    async def index(self) -> dict[str, IndexedFunction]:
        """Init, metadata, one load per function, as the host does at start-up; the functions found."""
        self.init_response = await self.request(
            "worker_init_request",
            self.protos.WorkerInitRequest(
                host_version=HOST_VERSION,
                capabilities=HOST_CAPABILITIES,
                worker_directory=str(self.app_dir),
                function_app_directory=str(self.app_dir),
            ),
        )
        self._check("WorkerInitRequest", self.init_response.result)
        metadata = await self.request(
            "functions_metadata_request",
            self.protos.FunctionsMetadataRequest(function_app_directory=str(self.app_dir)),
        )
        self._check("FunctionsMetadataRequest", metadata.result)
        if metadata.use_default_metadata_indexing:
            raise WorkerError("the worker asked for host (function.json) indexing: it found no v2 app")
        for entry in metadata.function_metadata_results:
            self._check(f"indexing {entry.name}", entry.status) if entry.HasField("status") else None
            loaded = await self.request(
                "function_load_request",
                self.protos.FunctionLoadRequest(function_id=entry.function_id, metadata=entry),
            )
            self._check(f"loading {entry.name}", loaded.result)
            bindings = tuple(json.loads(raw) for raw in entry.raw_bindings)
            self.functions[entry.name] = IndexedFunction(entry.function_id, entry.name, bindings)
        self.startup_logs = list(self.logs)
        return self.functions

    async def invoke(
        self,
        function_name: str,
        inputs: Mapping[str, Any],
        trigger_metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        """One ``InvocationRequest``; ``inputs`` maps parameter names to ``TypedData``."""
        function = self.functions[function_name]
        request = self.protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=function.function_id,
            input_data=[self.protos.ParameterBinding(name=name, data=data) for name, data in inputs.items()],
            trigger_metadata=dict(trigger_metadata or {}),
        )
        return await self.request("invocation_request", request)

    # -- binding data as the host sends it

    def string(self, value: str) -> Any:
        return self.protos.TypedData(string=value)

    def json(self, value: str) -> Any:
        return self.protos.TypedData(json=value)

    def http(self, request: func.HttpRequest) -> Any:
        return self.protos.TypedData(
            http=self.protos.RpcHttp(
                method=request.method,
                url=request.url,
                headers={name.lower(): value for name, value in request.headers.items()},
                params=dict(request.route_params),
                query=dict(request.params),
                body=self.protos.TypedData(bytes=request.get_body()),
            )
        )

    def queue(self, message: func.QueueMessage) -> tuple[Any, dict[str, Any]]:
        def when(moment: dt.datetime | None) -> Any:
            return self.json(json.dumps(moment.strftime("%Y-%m-%dT%H:%M:%S+00:00") if moment else None))

        metadata = {
            "Id": self.string(message.id or ""),
            "DequeueCount": self.json(str(message.dequeue_count or 1)),
            "InsertionTime": when(message.insertion_time),
            "ExpirationTime": when(message.expiration_time),
            "NextVisibleTime": when(message.time_next_visible),
            "PopReceipt": self.string(message.pop_receipt or ""),
        }
        return self.string(message.get_body().decode("utf-8")), metadata

    def service_bus(self, message: func.ServiceBusMessage) -> tuple[Any, dict[str, Any]]:
        """A single (cardinality one) Service Bus message: body bytes and the trigger's metadata."""
        enqueued = message.enqueued_time_utc or dt.datetime.now(dt.UTC)
        metadata = {
            "MessageId": self.string(message.message_id or ""),
            "DeliveryCount": self.json(str(message.delivery_count or 1)),
            "EnqueuedTimeUtc": self.json(json.dumps(enqueued.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))),
            "SequenceNumber": self.json(str(message.sequence_number or 1)),
            "ContentType": self.string(message.content_type or "application/json"),
            "LockToken": self.string(message.lock_token or str(uuid.uuid4())),
            "UserProperties": self.json(json.dumps(message.application_properties or {})),
            "ApplicationProperties": self.json(json.dumps(message.application_properties or {})),
        }
        return self.protos.TypedData(bytes=message.get_body()), metadata

    def event(self, event: func.EventGridEvent | func.CloudEvent) -> Any:
        """One event of an Event Grid delivery, in its own schema (Event Grid or CloudEvents 1.0)."""
        if isinstance(event, func.CloudEvent):
            body: dict[str, Any] = {"specversion": event.specversion, "id": event.id, "source": event.source,
                                    "type": event.type, "subject": event.subject, "data": event.get_json()}
        else:
            body = {"id": event.id, "topic": event.topic, "subject": event.subject, "eventType": event.event_type,
                    "eventTime": dt.datetime.now(dt.UTC).isoformat(), "dataVersion": event.data_version,
                    "data": event.get_json()}
        return self.json(json.dumps(body))

    def timer(self, request: func.TimerRequest) -> Any:
        return self.json(json.dumps({
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": None,
            "IsPastDue": request.past_due,
        }))

    @staticmethod
    def value(data: Any) -> Any:
        """A returned ``TypedData`` as a plain value (``http`` stays the proto)."""
        kind = data.WhichOneof("data")
        return None if kind is None else getattr(data, kind)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a request's failure as seen: its caller may have stopped waiting for it."""
    if not future.cancelled():
        future.exception()


def http_response(rpc: Any) -> func.HttpResponse:
    """The worker's ``RpcHttp`` answer as the `func.HttpResponse` a client would see."""
    body_kind = rpc.body.WhichOneof("data")
    body = getattr(rpc.body, body_kind) if body_kind else b""
    headers = dict(rpc.headers)
    return func.HttpResponse(
        body=body.encode("utf-8") if isinstance(body, str) else body,
        status_code=int(rpc.status_code or 200),
        headers=headers,
        mimetype=headers.get("Content-Type") or headers.get("content-type"),
    )


def function_index(indexed: Mapping[str, IndexedFunction]) -> FunctionIndex:
    """The fake host's function table, from the bindings the worker reported (no in-process app)."""
    return index_functions(
        (function.name, function.bindings, _not_in_process(function.name)) for function in indexed.values()
    )


def _not_in_process(name: str) -> Any:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{name} must be invoked through the worker in this tier")

    return unreachable


class WorkerInvocationError(Exception):
    """A function invocation that the worker reported as failed, with the worker's message."""

    from_worker = True  # the message is already "Type: text", as RpcException.message has it

    def __init__(self, function_name: str, message: str, stack: str) -> None:
        super().__init__(message)
        self.function_name = function_name
        self.stack = stack


class WorkerDurableHost(FakeDurableHost):
    """The fake Durable host with every function invoked through a real worker process."""

    def __init__(self, worker: FunctionsWorker, **options: Any) -> None:
        super().__init__(function_index(worker.functions), **options)
        self.worker = worker
        # The next N output-binding values the host fails to send (the invocation then fails).
        self.failing_outputs = 0

    def _client_inputs(self, function: RegisteredFunction) -> dict[str, Any]:
        return {name: self.worker.string(self.starter_json()) for name in function.client_params}

    async def _invoke(self, function: RegisteredFunction, inputs: dict[str, Any],
                      metadata: Mapping[str, Any] | None = None) -> Any:
        response = await self.worker.invoke(function.function_name, inputs, metadata)
        if response.result.status != self.worker.protos.StatusResult.Success:
            error = response.result.exception
            raise WorkerInvocationError(function.function_name, error.message, error.stack_trace)
        for output in response.output_data:  # what the host would now send to each output binding
            binding = next(b for b in function.bindings if b.get("name") == output.name)
            if self.failing_outputs > 0:
                self.failing_outputs -= 1
                raise WorkerInvocationError(
                    function.function_name, f"OutputBindingError: the host could not send {output.name}", ""
                )
            self.output_bindings.append(OutputBindingValue(
                function.function_name, output.name, str(binding.get("type")), binding, self.worker.value(output.data)
            ))
        return response.return_value if response.HasField("return_value") else None

    async def _run_function(self, function: RegisteredFunction, trigger_value: Any, outs: dict[str, Any]) -> Any:
        inputs = self._client_inputs(function)
        metadata: dict[str, Any] | None = None
        if isinstance(trigger_value, func.HttpRequest):
            inputs[function.trigger_param] = self.worker.http(trigger_value)
        elif isinstance(trigger_value, func.QueueMessage):
            inputs[function.trigger_param], metadata = self.worker.queue(trigger_value)
        elif isinstance(trigger_value, func.TimerRequest):
            inputs[function.trigger_param] = self.worker.timer(trigger_value)
        elif isinstance(trigger_value, func.ServiceBusMessage):
            inputs[function.trigger_param], metadata = self.worker.service_bus(trigger_value)
        elif isinstance(trigger_value, func.EventGridEvent | func.CloudEvent):
            inputs[function.trigger_param] = self.worker.event(trigger_value)
        else:
            raise NotImplementedError(f"no host payload for a {type(trigger_value).__name__} trigger")
        returned = await self._invoke(function, inputs, metadata)
        if returned is None:
            return None
        if returned.WhichOneof("data") == "http":
            return http_response(returned.http)
        return self.worker.value(returned)

    async def _run_orchestrator(self, orchestrator: RegisteredFunction,
                                context_json: str) -> tuple[dict[str, Any] | None, str | None]:
        inputs = {orchestrator.trigger_param: self.worker.string(context_json)}
        try:
            returned = await self._invoke(orchestrator, inputs)
        except WorkerInvocationError as error:
            return self._orchestrator_failure(str(error))
        value = self.worker.value(returned) if returned is not None else None
        return self._orchestrator_state(value)

    async def _run_activity(self, function: RegisteredFunction, raw_input: str | None) -> tuple[Any, str]:
        inputs = self._client_inputs(function)
        inputs[function.trigger_param] = self.worker.json(raw_input if raw_input is not None else "null")
        returned = await self._invoke(function, inputs)
        encoded = self.worker.value(returned) if returned is not None else None
        text = encoded if isinstance(encoded, str) else json.dumps(encoded)
        return json.loads(text), text
