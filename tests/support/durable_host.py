"""An in-process fake of the Azure Functions host's Durable side, for tests.

The real host cannot run here, so this module plays its part around the app's *real* functions,
reached through the SDKs' own entry points:

* **Discovery** (`discover_functions`): reads a `df.DFApp`'s `get_functions()` — orchestrators
  (``orchestrationTrigger``, named by the trigger's ``orchestration`` or the function name),
  activities (``activityTrigger``), HTTP functions (route, methods), queue functions, and each
  function's durable-client parameter names.
* **Durable HTTP API** on 127.0.0.1 (aiohttp, in the test's event loop), the endpoints
  `DurableOrchestrationClient` calls at ``rpcBaseUrl`` (``/durabletask/``), also served under the
  public webhook path ``/runtime/webhooks/durabletask/`` behind the system key. `starter_json()`
  is the durable-client binding value the host passes to client functions.
* **Orchestration by replay**: each episode builds the orchestration-trigger JSON the Durable
  extension builds (``OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString``)
  and calls the registered orchestrator function — `Orchestrator.create`'s ``handle``, the entry
  point the Python worker calls. Its state JSON (``isDone``, ``actions``, ``output``, ``error``,
  ``customStatus``) is interpreted the way the extension's ``OutOfProcOrchestrationShim`` and
  DurableTask.Core do: activities (also with retry, as ``RetryInterceptor``) and timers are
  scheduled with DTFx's sequential event ids and their completions appended to the history.
* **Activities run for real**: the registered user function is called with the input decoded by
  the worker's own ``ActivityTriggerConverter`` and its result encoded by the same converter.
* **Client functions**: `call_http` / `send_queue_message` / `run_timer` build real
  `azure.functions` request / queue-message / timer objects (`invoke_function` takes any trigger
  value) and call the registered function with the binding arguments the worker
  passes (the durable-client argument is `starter_json()`; the SDK's ``df_client_middleware``
  turns it into a `DurableOrchestrationClient`). Every HTTP route is also served by the fake
  server at `base_url`, so management URLs from ``create_check_status_response`` work too.

Verified shapes (SDK azure-functions-durable 1.7.0 sources; Durable extension sources via the
code index):

* context JSON: ``history``, ``input``, ``instanceId``, ``isReplaying``, ``parentInstanceId``,
  ``upperSchemaVersion`` (1) / ``upperSchemaVersionNew`` (3) — the SDK then replays with schema V3
  — ``longRunningTimerIntervalDuration`` / ``maximumShortTimerDuration`` (Azure Storage's 3 / 6
  days, .NET TimeSpan strings) and ``defaultHttpAsyncRequestSleepTimeMillseconds``;
* history events: ``EventType``, ``EventId`` (the scheduling sequence number for TaskScheduled /
  TimerCreated, -1 otherwise), ``IsPlayed`` (true for events of earlier episodes), ``Timestamp``,
  and per type ``Name``/``Version``/``Input``/``OrchestrationInstance`` (ExecutionStarted),
  ``Name``/``Input`` (TaskScheduled), ``TaskScheduledId`` + ``Result`` (TaskCompleted) or
  ``Reason`` + ``Details`` (TaskFailed), ``FireAt`` (TimerCreated), ``TimerId`` + ``FireAt``
  (TimerFired);
* retries as DTFx's ``RetryInterceptor``: after *every* failed attempt (the last one included) a
  timer of ``firstRetryInterval * backoffCoefficient ** (attempt - 1)`` (capped by
  ``maxRetryIntervalInMilliseconds``); after it fires the activity is scheduled again, or the
  task fails once ``maxNumberOfAttempts`` is reached. The SDK's ``RetryAbleTask`` expects exactly
  this (ids: task 0, timer 1, task 2, ...). Note that SDK 1.7.0's ``RetryOptions.to_json`` only
  sends ``firstRetryIntervalInMilliseconds`` and ``maxNumberOfAttempts``: any other attribute set
  on a `RetryOptions` never reaches the host, so the coefficient is 1;
* status JSON (``HttpApiHandler.ConvertFrom``): ``name``, ``instanceId``, ``runtimeStatus``,
  ``input``, ``customStatus``, ``output``, ``createdTime`` / ``lastUpdatedTime`` (``...:ssZ``);
  202 while Pending/Running, 200 when finished (Failed too, unless
  ``returnInternalServerErrorOnFailure=true``), 404 with an empty body for an unknown id — the SDK
  then returns a falsy `DurableOrchestrationStatus` whose ``runtime_status`` is None;
* start (``HandleStartOrchestratorRequestAsync``): 202 with the management payload (incl.
  ``id``); the request body is stored verbatim as the ExecutionStarted ``Input`` and its JSON
  value is the context's / status's ``input`` — for the Python client, whose body is the JSON of
  a JSON string, that is a *string* holding the JSON of the input. An instance that exists and
  is Pending/Running/ContinuedAsNew/Suspended is not replaced: 409 ``{"Message": ...}`` (the
  extension's default ``overridableExistingInstanceStates: NonRunningStates``); a finished one is
  replaced. An unknown orchestrator is a 400 with ``ExceptionMessage`` (which the SDK re-raises);
* purge: 200 ``{"instancesDeleted": 1}``, 404 unknown, 412 while not finished; terminate: 202,
  404 unknown, 410 finished — the instance becomes Terminated with the reason as output (at once,
  or, with ``queued_terminations``, when its runner reaches the termination after the events queued
  before it, as the extension's ``TerminateAsync`` sends a message to the control queue), and an
  activity already running keeps running (its result is dropped);
* a failed orchestration (``handle`` raises, with the state JSON after ``$OutOfProcData$:``)
  becomes Failed with output ``"Orchestrator function '<name>' failed: <error>"`` and keeps the
  custom status it set; a completed one keeps ``output``.

Limitations (by design, or not verified against a real host):

* one new event per episode (the real host may batch several); sub-orchestrations, entities,
  durable HTTP calls, suspend/resume/rewind/restart are not supported — an orchestration that
  schedules one fails with a message naming the action; ``retryTimeoutInMilliseconds`` and the
  ``Handle`` filter of retry options are ignored;
* a failed activity's ``Reason`` is ``"Activity function '<name>' failed: <Type>: <message>"``
  and ``Details`` a JSON object shaped like the extension's serialized .NET exception whose
  ``Message`` follows the Functions host's ``Result: Failure / Exception: / Stack:`` layout — the
  real wording depends on the host and worker versions;
* durable timers run on a virtual clock: the real wait is the timer's duration times
  ``timer_scale`` and the clock then jumps to the fire time, so ``current_utc_datetime`` and the
  history stay consistent (``timer_scale=0`` fires at once);
* auth levels only at the front door (``base_url``) and only when ``function_keys`` are given:
  a function that is not anonymous then needs one of them (``x-functions-key`` or ``?code=``),
  else the host answers 401 with no body; ``call_http`` never checks keys. App Service
  authentication only as ``auth_sessions`` (below); paths are routed as sent (Kestrel would
  remove ``.`` and ``..`` segments first); no host timeouts, no poison queue
  processing (poisoned messages are kept in ``poison_messages``), only input bindings of type
  durableClient; ``func.Out`` output bindings are captured in ``output_bindings`` and not
  delivered anywhere;
* ``showHistory`` returns ``historyEvents`` shaped as the status API's documented example: event
  type names, orchestrator episode markers dropped, each TaskScheduled folded into its completion
  (``FunctionName``, ``ScheduledTime``), ``Result`` as JSON and only with ``showHistoryOutput``;
  the extension may add fields the example does not show;
* raised events (``HandleRaiseEventRequestAsync``) keep the request body as the EventRaised
  ``Input``; as with start input, the Python client's double encoding means
  ``wait_for_external_event`` then yields a *string* of JSON.

Typical use::

    async with FakeDurableHost(app, host_json="host.json", timer_scale=0) as host:
        response = await host.call_http(("POST", "/tasks"), body={"prompt": "hi"})
        instance = await host.wait_for(json.loads(response.get_body())["task_id"])
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import logging
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

import azure.durable_functions as df
import azure.functions as func
from aiohttp import web
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
from azure.durable_functions.models.utils import http_utils as _sdk_http_utils
from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.functions.durable_functions import ActivityTriggerConverter, OrchestrationTriggerConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

__all__ = [
    "APP_SERVICE_AUTH_COOKIE",
    "TERMINAL_STATUSES",
    "ActivityCall",
    "FakeDurableHost",
    "FunctionError",
    "FunctionIndex",
    "HostSettings",
    "OrchestrationInstance",
    "OutputBindingValue",
    "QueueDelivery",
    "RegisteredFunction",
    "UnsupportedActionError",
    "discover_functions",
    "index_functions",
    "reset_sdk_http_session",
]

logger = logging.getLogger(__name__)

RuntimeStatus = Literal["Pending", "Running", "Completed", "Failed", "Terminated", "ContinuedAsNew", "Suspended"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
_NON_RUNNING_DEDUPE = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})

FunctionKind = Literal["orchestrator", "activity", "entity", "http", "queue", "other"]
_KINDS: dict[str, FunctionKind] = {
    "orchestrationTrigger": "orchestrator",
    "activityTrigger": "activity",
    "entityTrigger": "entity",
    "httpTrigger": "http",
    "queueTrigger": "queue",
}

#: DurableTask.Core ``OrchestrationStatus`` values, as written in ExecutionCompleted events.
_DTFX_ORCHESTRATION_STATUS = {"Running": 0, "Completed": 1, "ContinuedAsNew": 2, "Failed": 3, "Terminated": 5}

_HISTORY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the SDK's DATETIME_STRING_FORMAT
_STATUS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # HttpApiHandler: ToString("s") + "Z"
_OUT_OF_PROC_MARKER = "$OutOfProcData$:"
_RPC_PATH = "/durabletask/"
#: The session cookie of App Service authentication (``auth_sessions``).
APP_SERVICE_AUTH_COOKIE = "AppServiceAuthSession"
_WEBHOOK_PATH = "/runtime/webhooks/durabletask/"


# ---- function discovery ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RegisteredFunction:
    """One function of the app, as the host indexes it.

    ``durable_name`` is the orchestration / activity name (the trigger's ``orchestration`` or
    ``activity`` argument, else the function name); ``client_params`` the parameter names of its
    durable-client bindings; ``route`` / ``methods`` are set for HTTP functions (``methods`` None
    means any method) and ``queue_name`` for queue functions.
    """

    function_name: str
    trigger_type: str
    trigger_param: str
    user_function: Callable[..., Any]
    bindings: tuple[Mapping[str, Any], ...]
    client_params: tuple[str, ...] = ()
    durable_name: str | None = None
    route: str | None = None
    methods: tuple[str, ...] | None = None
    queue_name: str | None = None
    auth_level: str | None = None

    @property
    def kind(self) -> FunctionKind:
        """What the host does with the function, from its trigger type."""
        return _KINDS.get(self.trigger_type, "other")


@dataclasses.dataclass
class FunctionIndex:
    """The app's functions by kind; lookups by durable name are case-insensitive like the host's."""

    functions: dict[str, RegisteredFunction]
    orchestrators: dict[str, RegisteredFunction]
    activities: dict[str, RegisteredFunction]
    http: dict[str, RegisteredFunction]
    queues: dict[str, RegisteredFunction]

    def orchestrator(self, name: str) -> RegisteredFunction | None:
        """The orchestrator registered under ``name``, if any."""
        return _lookup(self.orchestrators, name)

    def activity(self, name: str) -> RegisteredFunction | None:
        """The activity registered under ``name``, if any."""
        return _lookup(self.activities, name)

    def queue_function(self, name: str) -> RegisteredFunction | None:
        """A queue function by function name, else by queue name."""
        found = _lookup(self.queues, name)
        if found is not None:
            return found
        matches = [fn for fn in self.queues.values() if (fn.queue_name or "").lower() == name.lower()]
        return matches[0] if matches else None


def _lookup(table: Mapping[str, RegisteredFunction], name: str) -> RegisteredFunction | None:
    if name in table:
        return table[name]
    for key, value in table.items():
        if key.lower() == name.lower():
            return value
    return None


def discover_functions(app: func.FunctionRegister) -> FunctionIndex:
    """Index a `df.DFApp` (any `FunctionRegister`) the way the host indexes a v2 app."""
    # `get_functions()` records the names it has seen and refuses to index them a second time (the
    # worker indexes once per process): index as a fresh process would, then leave the app as it was.
    seen = getattr(app, "functions_bindings", None)
    app.functions_bindings = None
    try:
        indexed = app.get_functions()
    finally:
        app.functions_bindings = seen
    return index_functions(
        (
            fn.get_function_name() or fn.get_user_function().__name__,
            tuple(_binding_dict(b) for b in fn.get_bindings()),
            fn.get_user_function(),
        )
        for fn in indexed
        if fn.get_trigger() is not None
    )


def index_functions(
    entries: Iterable[tuple[str, Iterable[Mapping[str, Any]], Callable[..., Any]]],
) -> FunctionIndex:
    """The host's table of functions from (name, binding dicts, user function) triples.

    Binding dicts are as `get_raw_bindings()` writes them (the metadata the worker sends the host)
    or as `_binding_dict` makes them; exactly one binding is a trigger."""
    functions: dict[str, RegisteredFunction] = {}
    index = FunctionIndex(functions, {}, {}, {}, {})
    for name, raw_bindings, user_function in entries:
        bindings = tuple(_normalised(b) for b in raw_bindings)
        trigger_repr = next(b for b in bindings if str(b.get("type", "")).endswith("Trigger"))
        methods = trigger_repr.get("methods")
        registered = RegisteredFunction(
            function_name=name,
            trigger_type=str(trigger_repr.get("type")),
            trigger_param=str(trigger_repr.get("name")),
            user_function=user_function,
            bindings=bindings,
            client_params=tuple(str(b["name"]) for b in bindings if b.get("type") == "durableClient"),
            durable_name=trigger_repr.get("orchestration") or trigger_repr.get("activity") or name,
            route=trigger_repr.get("route"),
            methods=tuple(str(m).upper() for m in methods) if methods else None,
            queue_name=trigger_repr.get("queueName"),
            auth_level=str(trigger_repr["authLevel"]) if trigger_repr.get("authLevel") else None,
        )
        functions[name] = registered
        table = {
            "orchestrator": index.orchestrators,
            "activity": index.activities,
            "http": index.http,
            "queue": index.queues,
        }.get(registered.kind)
        if table is not None:
            key = registered.durable_name if registered.kind in ("orchestrator", "activity") else name
            table[str(key)] = registered
    return index


def _normalised(binding: Mapping[str, Any]) -> dict[str, Any]:
    plain = dict(binding)
    plain["direction"] = str(plain.get("direction") or "IN").upper()
    return plain


def _binding_dict(binding: Any) -> dict[str, Any]:
    """A binding's dict form with enums made plain (direction by name: ``IN`` / ``OUT`` / ``INOUT``)."""
    raw = binding.get_dict_repr()
    plain = {key: _plain(value) for key, value in raw.items()}
    direction = raw.get("direction")
    plain["direction"] = direction.name if isinstance(direction, enum.Enum) else str(direction or "IN").upper()
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


# ---- routes ----------------------------------------------------------------------------------

_ROUTE_PARAM = re.compile(r"\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(?::([^}?=]+))?(\?)?(?:=[^}]*)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
}


@dataclasses.dataclass(frozen=True)
class _Route:
    function: RegisteredFunction
    template: str
    regex: re.Pattern[str]
    literal_segments: int
    catch_all: bool


def _compile_route(function: RegisteredFunction, prefix: str) -> _Route:
    """An ASP.NET-style route template (``tasks/{id}``, ``{id:int}``, ``{id?}``, ``{*rest}``)."""
    route = function.route if function.route is not None else function.function_name
    template = "/".join(part for part in (prefix.strip("/"), route.strip("/")) if part)
    pattern, literals, catch_all = "", 0, False
    for segment in [s for s in template.split("/") if s]:
        whole = _ROUTE_PARAM.fullmatch(segment)
        if whole is not None:
            star, name, constraint, optional = whole.groups()
            if star:
                catch_all = True
                pattern += f"(?:/(?P<{name}>.*))?"
            else:
                body = f"(?P<{name}>{_CONSTRAINTS.get((constraint or '').split('(')[0], '[^/]+')})"
                pattern += f"(?:/{body})?" if optional else f"/{body}"
            continue
        if _ROUTE_PARAM.search(segment) is None:
            literals += 1
        pieces, last = [], 0
        for match in _ROUTE_PARAM.finditer(segment):
            pieces.append(re.escape(segment[last : match.start()]))
            pieces.append(f"(?P<{match.group(2)}>[^/]+?)")
            last = match.end()
        pieces.append(re.escape(segment[last:]))
        pattern += "/" + "".join(pieces)
    regex = re.compile("^" + (pattern or "") + "/?$", re.IGNORECASE)
    return _Route(function, template, regex, literals, catch_all)


def _fill_route(template: str, values: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(2))
        if value is None:
            if match.group(4) or match.group(1):
                return ""
            raise KeyError(f"route parameter {match.group(2)!r} of {template!r} not given")
        return quote(str(value), safe="" if not match.group(1) else "/")

    path = _ROUTE_PARAM.sub(substitute, template)
    return "/" + "/".join(part for part in path.split("/") if part)


# ---- host settings ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HostSettings:
    """The few host.json settings the fake honours."""

    route_prefix: str = "api"
    task_hub: str = "TestHubName"
    max_dequeue_count: int = 5
    max_concurrent_activities: int | None = None

    @classmethod
    def from_host_json(cls, path: str | Path) -> HostSettings:
        """Read ``extensions.http.routePrefix``, ``durableTask.hubName`` and friends."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        extensions = data.get("extensions") or {}
        http = extensions.get("http") or {}
        durable = extensions.get("durableTask") or {}
        queues = extensions.get("queues") or {}
        return cls(
            route_prefix=http.get("routePrefix", "api"),
            task_hub=durable.get("hubName", "TestHubName"),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            max_concurrent_activities=durable.get("maxConcurrentActivityFunctions"),
        )


# ---- records ---------------------------------------------------------------------------------


@dataclasses.dataclass
class ActivityCall:
    """One real execution of an activity function."""

    instance_id: str
    name: str
    task_scheduled_id: int
    attempt: int
    input: Any
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: Literal["running", "completed", "failed"] = "running"
    result: Any = None
    error: BaseException | None = None


@dataclasses.dataclass
class QueueDelivery:
    """The outcome of `FakeDurableHost.send_queue_message`: one attempt per dequeue."""

    function_name: str
    message_id: str
    body: bytes
    attempts: int = 0
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    succeeded: bool = False
    poisoned: bool = False


@dataclasses.dataclass
class FunctionError:
    """An exception a client function (HTTP or queue) raised; the host logs these."""

    function_name: str
    error: BaseException


@dataclasses.dataclass
class OutputBindingValue:
    """A value a function set on a ``func.Out`` output binding."""

    function_name: str
    binding_name: str
    binding_type: str
    binding: Mapping[str, Any]
    value: Any


class UnsupportedActionError(Exception):
    """The orchestration asked for something this fake host does not implement."""


# ---- the orchestration instance --------------------------------------------------------------


@dataclasses.dataclass
class _RetryState:
    first_retry_ms: float
    max_attempts: int
    backoff: float
    max_interval_ms: float | None
    attempts: int = 1
    timer_id: int | None = None


@dataclasses.dataclass
class _Leaf:
    """One scheduled action (after flattening WhenAll/WhenAny), in the order the SDK emits them."""

    action: dict[str, Any]
    retry: _RetryState | None = None
    event_ids: list[int] = dataclasses.field(default_factory=list)

    @property
    def action_type(self) -> int:
        return int(self.action.get("actionType", -1))

    @property
    def identity(self) -> tuple[int, str | None]:
        return self.action_type, self.action.get("functionName") or self.action.get("externalEventName")


class OrchestrationInstance:
    """An orchestration instance as the fake host stores it (treat as read-only in tests).

    ``history`` is the DTFx history (event dicts as sent to the worker; ``IsPlayed`` is set per
    episode when the context is built), ``raw_input`` the start request's body text,
    ``last_context`` / ``last_state`` the last context JSON sent to the orchestrator and the state
    JSON it returned.
    """

    def __init__(self, instance_id: str, name: str, raw_input: str | None, version: str | None, now: dt.datetime):
        self.instance_id = instance_id
        self.name = name
        self.version = version
        self.raw_input = raw_input
        self.execution_id = uuid.uuid4().hex
        self.runtime_status: RuntimeStatus = "Pending"
        self.custom_status: Any = None
        self.output: Any = None
        self.failure: str | None = None
        self.created_time = now
        self.last_updated_time = now
        self.history: list[dict[str, Any]] = []
        self.episodes = 0
        self.last_context: str | None = None
        self.last_state: dict[str, Any] | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._leaves: list[_Leaf] = []
        self._event_leaf: dict[int, _Leaf] = {}
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._next_event_id = 0

    @property
    def is_terminal(self) -> bool:
        """Completed, Failed or Terminated."""
        return self.runtime_status in TERMINAL_STATUSES

    @property
    def input(self) -> Any:
        """The JSON value of the start request's body (a string of JSON for the Python client)."""
        return None if self.raw_input is None else json.loads(self.raw_input)

    def status_json(
        self, *, show_input: bool = True, show_history: bool = False, show_history_output: bool = False
    ) -> dict[str, Any]:
        """The body of ``GET instances/{id}``."""
        payload: dict[str, Any] = {
            "name": self.name,
            "instanceId": self.instance_id,
            "runtimeStatus": self.runtime_status,
            "input": self.input if show_input else None,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": self.created_time.strftime(_STATUS_TIME_FORMAT),
            "lastUpdatedTime": self.last_updated_time.strftime(_STATUS_TIME_FORMAT),
        }
        if show_history:
            payload["historyEvents"] = _host_history(self.history, show_output=show_history_output)
        return payload

    def _new_event_id(self) -> int:
        event_id = self._next_event_id
        self._next_event_id += 1
        return event_id

    def __repr__(self) -> str:
        return f"<OrchestrationInstance {self.instance_id} {self.name} {self.runtime_status}>"


# ---- small helpers ---------------------------------------------------------------------------


class _VirtualClock:
    """UTC wall clock that durable timers may move forward (never back)."""

    def __init__(self) -> None:
        self._offset = dt.timedelta()
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        current = dt.datetime.now(dt.UTC) + self._offset
        if current <= self._last:
            current = self._last + dt.timedelta(microseconds=1)
        self._last = current
        return current

    def advance_to(self, moment: dt.datetime) -> None:
        gap = moment - self.now()
        if gap > dt.timedelta():
            self._offset += gap


class _Out(func.Out[Any]):
    """A ``func.Out`` that keeps what the function sets."""

    def __init__(self) -> None:
        self.value: Any = None
        self.was_set = False

    def set(self, val: Any) -> None:
        self.value = val
        self.was_set = True

    def get(self) -> Any:
        return self.value


class _InvocationContext:
    """The ``context`` argument the worker passes to functions that declare it."""

    def __init__(self, function_name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = str(Path.cwd())
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = threading.local()


def _format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(_HISTORY_TIME_FORMAT)


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _host_history(history: list[dict[str, Any]], *, show_output: bool) -> list[dict[str, Any]]:
    """The history as ``GET instances/{id}?showHistory=true`` shows it (see the module docstring)."""
    scheduled = {e["EventId"]: e for e in history if e["EventType"] == HistoryEventType.TASK_SCHEDULED}
    shown: list[dict[str, Any]] = []
    for raw in history:
        kind = HistoryEventType(raw["EventType"])
        if kind in (HistoryEventType.ORCHESTRATOR_STARTED, HistoryEventType.ORCHESTRATOR_COMPLETED,
                    HistoryEventType.TASK_SCHEDULED):
            continue
        event = {k: copy.deepcopy(v) for k, v in raw.items() if k not in ("EventId", "IsPlayed", "TaskScheduledId")}
        event["EventType"] = "".join(part.title() for part in kind.name.split("_"))
        if kind == HistoryEventType.EXECUTION_STARTED:
            event["FunctionName"] = event.pop("Name", None)
        if kind in (HistoryEventType.TASK_COMPLETED, HistoryEventType.TASK_FAILED):
            origin = scheduled.get(raw.get("TaskScheduledId"), {})
            event["FunctionName"] = origin.get("Name")
            event["ScheduledTime"] = origin.get("Timestamp")
        for field in ("Result", "Input"):
            if field not in event:
                continue
            if not show_output:
                del event[field]
            elif isinstance(event[field], str):
                with contextlib.suppress(ValueError):
                    event[field] = json.loads(event[field])
        shown.append(event)
    return shown


def _flatten_actions(actions: Any) -> list[dict[str, Any]]:
    """Leaf actions in order: the V1 list-of-lists and V2/V3 compound actions flattened."""
    leaves: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            if node.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
                visit(node.get("compoundActions") or [])
            else:
                leaves.append(node)

    visit(actions or [])
    return leaves


def _bool_query(query: Mapping[str, str], name: str, default: bool) -> bool:
    for key, value in query.items():
        if key.lower() == name.lower():
            if value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            return default
    return default


def _query_value(query: Mapping[str, str], name: str) -> str | None:
    for key, value in query.items():
        if key.lower() == name.lower():
            return value
    return None


async def reset_sdk_http_session() -> None:
    """Drop the Durable SDK's module-level aiohttp session (and its lock).

    ``azure.durable_functions.models.utils.http_utils`` keeps one `ClientSession` for the process,
    bound to the event loop that created it; a later test with another loop must not reuse it.
    """
    session = _sdk_http_utils._client_session
    _sdk_http_utils._client_session = None
    _sdk_http_utils._session_lock = asyncio.Lock()
    if session is not None and not session.closed:
        with contextlib.suppress(Exception):
            await session.close()


# ---- the host --------------------------------------------------------------------------------


class FakeDurableHost:
    """An in-process stand-in for the Functions host + Durable extension around a `df.DFApp`.

    Use as ``async with FakeDurableHost(app) as host:``. Options: ``host_json`` (path of a
    host.json to read `HostSettings` from) or ``settings``; ``system_key`` (the durable
    extension's system key placed in management URLs); ``timer_scale`` (real seconds slept per
    second of a durable timer, retry delays included; 0 fires at once);
    ``overridable_existing_instance_states`` (``"NonRunningStates"``, the extension default, or
    ``"AnyState"``); ``raise_function_errors`` (re-raise exceptions from HTTP/queue functions
    instead of answering 500 / retrying the message); ``queued_terminations`` (a terminate is
    accepted at once but carried out when the instance's runner reaches it, after the events
    already queued for it, as a real host does through the control queue: until then the
    instance stays Running, and an episode that completes it first makes the terminate a no-op;
    by default a terminate takes effect at once);
    ``function_keys`` (keys the front door
    requires of functions that are not anonymous; none: no key is checked); ``auth_sessions``
    (App Service authentication at the front door: the ``AppServiceAuthSession`` cookie value of
    each signed-in principal id; the platform's principal headers a caller sends are dropped and
    the session's ``X-MS-CLIENT-PRINCIPAL-ID`` set, as the platform does; a request without a
    known session passes anonymously, as with its "allow unauthenticated requests" action).
    """

    def __init__(
        self,
        app: func.FunctionRegister | FunctionIndex,
        *,
        host_json: str | Path | None = None,
        settings: HostSettings | None = None,
        system_key: str = "SYSTEMKEY",
        connection_name: str = "Storage",
        timer_scale: float = 1.0,
        overridable_existing_instance_states: Literal["NonRunningStates", "AnyState"] = "NonRunningStates",
        raise_function_errors: bool = False,
        queued_terminations: bool = False,
        function_keys: Iterable[str] = (),
        auth_sessions: Mapping[str, str] | None = None,
    ) -> None:
        if settings is None:
            settings = HostSettings.from_host_json(host_json) if host_json is not None else HostSettings()
        self.settings = settings
        self.functions = app if isinstance(app, FunctionIndex) else discover_functions(app)
        self.system_key = system_key
        self.connection_name = connection_name
        self.timer_scale = timer_scale
        self.overridable_existing_instance_states = overridable_existing_instance_states
        self.raise_function_errors = raise_function_errors
        self.queued_terminations = queued_terminations
        self.function_keys = frozenset(function_keys)
        self.auth_sessions = dict(auth_sessions) if auth_sessions is not None else None
        self.activity_calls: list[ActivityCall] = []
        self.function_errors: list[FunctionError] = []
        self.http_exchanges: list[tuple[func.HttpRequest, func.HttpResponse]] = []
        self.output_bindings: list[OutputBindingValue] = []
        self.queue_deliveries: list[QueueDelivery] = []
        self.poison_messages: list[QueueDelivery] = []
        self.internal_errors: list[BaseException] = []
        self.clock = _VirtualClock()
        self._routes = sorted(
            (_compile_route(fn, settings.route_prefix) for fn in self.functions.http.values()),
            key=lambda r: (r.catch_all, -r.literal_segments),
        )
        self._instances: dict[str, OrchestrationInstance] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._busy: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._activity_slots: asyncio.Semaphore | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle

    async def start(self) -> FakeDurableHost:
        """Reset the SDK's HTTP session and start the HTTP server on 127.0.0.1 (a free port)."""
        await reset_sdk_http_session()
        self._changed = asyncio.Event()
        if self.settings.max_concurrent_activities:
            self._activity_slots = asyncio.Semaphore(int(self.settings.max_concurrent_activities))
        server = web.Application(client_max_size=64 * 1024 * 1024)
        server.router.add_route("*", "/{tail:[\\s\\S]*}", self._dispatch)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Cancel every background task (runners, activities, timers), stop the server, reset the SDK."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await reset_sdk_http_session()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDurableHost:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- addresses and the client binding

    @property
    def base_url(self) -> str:
        """Origin of the fake server (``http://127.0.0.1:<port>``); HTTP functions are served here."""
        if self._port is None:
            raise RuntimeError("FakeDurableHost is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def rpc_base_url(self) -> str:
        """The ``rpcBaseUrl`` of the client binding: the extension's local RPC endpoint."""
        return f"{self.base_url}{_RPC_PATH}"

    @property
    def webhook_base_url(self) -> str:
        """The public Durable HTTP API base (needs ``code=<system key>``)."""
        return f"{self.base_url}{_WEBHOOK_PATH.rstrip('/')}"

    def starter_json(self) -> str:
        """The durable-client binding value the host passes to a client function (a JSON string)."""
        base, key, hub = self.webhook_base_url, self.system_key, self.settings.task_hub
        common = f"taskHub={hub}&connection={self.connection_name}&code={key}"
        instance = f"{base}/instances/INSTANCEID"
        payload = {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?code={key}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={key}"
                ),
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{common}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{common}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{common}",
                "rewindPostUri": f"{instance}/rewind?reason={{text}}&{common}",
                "purgeHistoryDeleteUri": f"{instance}?{common}",
                "restartPostUri": f"{instance}/restart?{common}",
                "suspendPostUri": f"{instance}/suspend?reason={{text}}&{common}",
                "resumePostUri": f"{instance}/resume?reason={{text}}&{common}",
            },
            "baseUrl": base,
            "requiredQueryStringParameters": f"code={key}",
            "rpcBaseUrl": self.rpc_base_url,
        }
        return json.dumps(payload)

    def client(self) -> df.DurableOrchestrationClient:
        """A real SDK client on `starter_json()`, for tests that act as a client function."""
        return df.DurableOrchestrationClient(self.starter_json())

    # -- inspection

    @property
    def instances(self) -> dict[str, OrchestrationInstance]:
        """All stored instances by id (a copy of the table)."""
        return dict(self._instances)

    def get_instance(self, instance_id: str) -> OrchestrationInstance | None:
        """The stored instance, or None (unknown or purged)."""
        return self._instances.get(instance_id)

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """A copy of the instance's history events."""
        instance = self._instances.get(instance_id)
        if instance is None:
            raise KeyError(instance_id)
        return copy.deepcopy(instance.history)

    def status(self, instance_id: str) -> dict[str, Any] | None:
        """The status JSON the HTTP API would return, or None when unknown."""
        instance = self._instances.get(instance_id)
        return None if instance is None else instance.status_json()

    def calls_of(self, name: str | None = None, instance_id: str | None = None) -> list[ActivityCall]:
        """Recorded activity executions, filtered by activity name and/or instance."""
        return [
            call
            for call in self.activity_calls
            if (name is None or call.name.lower() == name.lower())
            and (instance_id is None or call.instance_id == instance_id)
        ]

    # -- waiting

    # The waits take a plain ``timeout`` (ASYNC109): it is the natural test-side API, and each wait
    # also re-raises the fake's own internal errors, which an outer ``asyncio.timeout`` could not do.
    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
        description: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever the host's state changes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self._raise_internal_errors()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {description}; {self._summary()}")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.25))
        self._raise_internal_errors()

    async def wait_for(
        self,
        instance_id: str,
        statuses: str | Iterable[str] = TERMINAL_STATUSES,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> OrchestrationInstance:
        """Wait until the instance exists and its runtime status is one of ``statuses``."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)

        def reached() -> bool:
            instance = self._instances.get(instance_id)
            return instance is not None and instance.runtime_status in wanted

        await self.wait_until(reached, timeout, f"instance {instance_id!r} to be {sorted(wanted)}")
        return self._instances[instance_id]

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every instance has finished and no activity or queue delivery is running."""
        await self.wait_until(
            lambda: not self._busy and all(i.is_terminal for i in self._instances.values()),
            timeout,
            "the host to be idle",
        )

    def _summary(self) -> str:
        parts = [
            f"{i.instance_id}: {i.runtime_status} custom={i.custom_status!r} "
            f"pending={sorted(i._timers)} last={[e['EventType'] for e in i.history[-3:]]}"
            for i in self._instances.values()
        ]
        return f"instances [{'; '.join(parts)}], busy tasks {len(self._busy)}"

    def _raise_internal_errors(self) -> None:
        if self.internal_errors:
            raise RuntimeError("FakeDurableHost internal error") from self.internal_errors[0]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- direct management (same code paths as the HTTP API)

    def start_orchestration(
        self,
        name: str,
        client_input: Any = None,
        instance_id: str | None = None,
        version: str | None = None,
    ) -> str:
        """Start an orchestration as ``start_new`` would (input JSON-encoded like the Python client)."""
        raw = None if client_input is None else json.dumps(df_dumps(client_input))
        status, payload = self._start(name, instance_id, raw, version)
        if status != 202:
            raise RuntimeError(f"start failed with {status}: {payload}")
        return str(payload["id"])

    def terminate(self, instance_id: str, reason: str = "") -> bool:
        """Terminate a running instance; False when it is unknown or already finished."""
        instance = self._instances.get(instance_id)
        if instance is None or instance.is_terminal:
            return False
        terminated = self._event(HistoryEventType.EXECUTION_TERMINATED, Input=reason)
        if self.queued_terminations:
            instance._inbox.put_nowait(terminated)
            return True
        instance.history.append(terminated)
        self._finish(instance, "Terminated", reason)
        return True

    def purge(self, instance_id: str, *, force: bool = False) -> int:
        """Delete an instance's history; refuses a running one (like the API's 412) unless ``force``."""
        instance = self._instances.get(instance_id)
        if instance is None:
            return 0
        if not instance.is_terminal and not force:
            raise RuntimeError(f"instance {instance_id} is {instance.runtime_status}; only finished ones are purged")
        self._drop(instance)
        return 1

    def raise_event(self, instance_id: str, event_name: str, raw_data: str | None) -> bool:
        """Deliver an EventRaised event (``raw_data`` is the event's JSON text); False if not running."""
        instance = self._instances.get(instance_id)
        if instance is None or instance.is_terminal:
            return False
        event = self._event(HistoryEventType.EVENT_RAISED, Name=event_name, Input=raw_data)
        instance._inbox.put_nowait(event)
        return True

    # -- client functions

    async def call_http(
        self,
        target: str | tuple[str, str],
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        route_params: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> func.HttpResponse:
        """Invoke an HTTP function in process and return its `func.HttpResponse`.

        ``target`` is a function name (then ``route_params`` fill its route and ``method``
        defaults to its first allowed method) or ``(method, path)`` matched against the routes
        (the route prefix included, e.g. ``("GET", "/api/tasks/1?x=y")``). ``body`` may be bytes,
        str, or any JSON value (sent as JSON with ``Content-Type: application/json``). A route
        that matches nothing raises `LookupError`; an exception in the function becomes a 500
        response (recorded in ``function_errors``) unless ``raise_function_errors``.
        """
        request_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if isinstance(target, tuple):
            verb, path = target[0].upper(), target[1]
            split = urlsplit(path)
            found = self._match_route(verb, split.path)
            if found is None:
                raise LookupError(f"no HTTP function serves {verb} {split.path}")
            function, matched = found
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            path_only = split.path
            values = {**matched, **(route_params or {})}
        else:
            maybe = self.functions.http.get(target)
            if maybe is None:
                raise LookupError(f"no HTTP function named {target!r}; have {sorted(self.functions.http)}")
            function = maybe
            verb = (method or (function.methods[0] if function.methods else "GET")).upper()
            values = {k: str(v) for k, v in (route_params or {}).items()}
            path_only = _fill_route(_compile_route(function, self.settings.route_prefix).template, values)
            query = {}
        query.update(params or {})
        payload = self._encode_body(body, request_headers)
        url = f"{self.base_url}{path_only}"
        if query:
            url += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
        request = func.HttpRequest(verb, url, headers=request_headers, params=query, route_params=values, body=payload)
        response = await self._invoke_http(function, request, raise_errors=self.raise_function_errors)
        self.http_exchanges.append((request, response))
        return response

    async def send_queue_message(
        self,
        target: str,
        body: Any,
        *,
        message_id: str | None = None,
        max_dequeue_count: int | None = None,
    ) -> QueueDelivery:
        """Deliver a message to a queue function (by function or queue name), as the host would.

        ``body`` is bytes, str or a JSON value. A delivery whose function raises is retried with
        a growing ``dequeue_count`` up to ``max_dequeue_count`` (host.json ``maxDequeueCount``,
        default 5), then kept in ``poison_messages``.
        """
        function = self.functions.queue_function(target)
        if function is None:
            raise LookupError(f"no queue function for {target!r}; have {sorted(self.functions.queues)}")
        if isinstance(body, bytes | bytearray):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
        delivery = QueueDelivery(function.function_name, message_id or str(uuid.uuid4()), data)
        self.queue_deliveries.append(delivery)
        limit = max_dequeue_count or self.settings.max_dequeue_count
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            for attempt in range(1, limit + 1):
                inserted = dt.datetime.now(dt.UTC)
                message = QueueMessage(  # type: ignore[no-untyped-call]
                    id=delivery.message_id,
                    body=data,
                    dequeue_count=attempt,
                    insertion_time=inserted,
                    expiration_time=inserted + dt.timedelta(days=7),
                    time_next_visible=inserted + dt.timedelta(seconds=30),
                    pop_receipt=uuid.uuid4().hex,
                )
                delivery.attempts = attempt
                outs: dict[str, _Out] = {}
                try:
                    await self._run_function(function, message, outs)
                except Exception as error:
                    delivery.errors.append(error)
                    self.function_errors.append(FunctionError(function.function_name, error))
                    logger.warning("queue function %s failed (attempt %d): %r", function.function_name, attempt, error)
                    if self.raise_function_errors:
                        raise
                    continue
                finally:
                    self._collect_outputs(function, outs)
                delivery.succeeded = True
                break
            if not delivery.succeeded:
                delivery.poisoned = True
                self.poison_messages.append(delivery)
            return delivery
        finally:
            if task is not None:
                self._busy.discard(task)
            self._notify()

    async def run_timer(self, function_name: str, *, past_due: bool = False) -> Any:
        """Fire a timer-triggered function once with a real ``azure.functions.timer.TimerRequest``."""
        request = TimerRequest(past_due=past_due, schedule_status=None, schedule={"AdjustForDST": True})
        return await self.invoke_function(function_name, request)

    async def invoke_function(self, function_name: str, trigger_value: Any) -> Any:
        """Call any registered function with ``trigger_value`` for its trigger parameter.

        The other arguments are bound as the worker binds them (durable clients get
        `starter_json()`, ``func.Out`` outputs are captured, ``context`` is passed if declared).
        Exceptions propagate (and are recorded in ``function_errors``).
        """
        function = self.functions.functions.get(function_name)
        if function is None:
            raise LookupError(f"no function named {function_name!r}; have {sorted(self.functions.functions)}")
        outs: dict[str, _Out] = {}
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            return await self._run_function(function, trigger_value, outs)
        except Exception as error:
            self.function_errors.append(FunctionError(function.function_name, error))
            raise
        finally:
            self._collect_outputs(function, outs)
            if task is not None:
                self._busy.discard(task)
            self._notify()

    # -- function invocation

    @staticmethod
    def _encode_body(body: Any, headers: dict[str, str]) -> bytes:
        if body is None:
            return b""
        if isinstance(body, bytes | bytearray):
            return bytes(body)
        if isinstance(body, str):
            return body.encode("utf-8")
        headers.setdefault("content-type", "application/json")
        return json.dumps(body).encode("utf-8")

    def _match_route(self, method: str, path: str) -> tuple[RegisteredFunction, dict[str, str]] | None:
        for route in self._routes:
            match = route.regex.match("/" + path.strip("/") if path.strip("/") else "")
            if match is None:
                continue
            allowed = route.function.methods
            if allowed is not None and method.upper() not in allowed:
                continue
            return route.function, {k: v for k, v in match.groupdict().items() if v is not None}
        return None

    def _binding_kwargs(
        self, function: RegisteredFunction, trigger_value: Any, outs: dict[str, _Out]
    ) -> dict[str, Any]:
        parameters = inspect.signature(function.user_function).parameters
        kwargs: dict[str, Any] = {function.trigger_param: trigger_value}
        for binding in function.bindings:
            name, kind, direction = str(binding.get("name")), binding.get("type"), binding.get("direction")
            if name == function.trigger_param or name == "$return":
                continue
            if kind == "durableClient":
                kwargs[name] = self.starter_json()
            elif direction in ("OUT", "INOUT"):
                if name in parameters:
                    outs[name] = _Out()
                    kwargs[name] = outs[name]
            else:
                raise NotImplementedError(
                    f"FakeDurableHost: {function.function_name} has a {kind} input binding {name!r}, not supported"
                )
        if "context" in parameters and "context" not in kwargs:
            kwargs["context"] = _InvocationContext(function.function_name)
        return kwargs

    def _collect_outputs(self, function: RegisteredFunction, outs: Mapping[str, _Out]) -> None:
        for name, out in outs.items():
            if not out.was_set:
                continue
            binding = next(b for b in function.bindings if b.get("name") == name)
            self.output_bindings.append(
                OutputBindingValue(function.function_name, name, str(binding.get("type")), binding, out.value)
            )

    # -- the invocation seam: in process here; tests/support/worker_host.py goes through a real worker

    async def _run_function(self, function: RegisteredFunction, trigger_value: Any, outs: dict[str, _Out]) -> Any:
        """Call a client or trigger function with its trigger value, binding the rest as the worker does."""
        kwargs = self._binding_kwargs(function, trigger_value, outs)
        return await self._call_user_function(function.user_function, kwargs)

    async def _run_orchestrator(
        self, orchestrator: RegisteredFunction, context_json: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """One orchestrator execution: (state JSON, error message or None)."""
        return self._invoke_orchestrator(orchestrator, context_json)

    async def _run_activity(self, function: RegisteredFunction, raw_input: str | None) -> tuple[Any, str]:
        """Run an activity on its JSON input: (the value it returned, that value as the host stores it)."""
        value = _decode_activity_input(raw_input)
        outs: dict[str, _Out] = {}
        kwargs = self._binding_kwargs(function, value, outs)
        try:
            result = await self._call_user_function(function.user_function, kwargs)
        finally:
            self._collect_outputs(function, outs)
        return result, ActivityTriggerConverter.encode(result, expected_type=None).value

    @staticmethod
    async def _call_user_function(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Await an async function; run a sync one in a worker thread, as the Python worker does."""
        if inspect.iscoroutinefunction(function):
            return await function(**kwargs)
        result = await asyncio.to_thread(functools.partial(function, **kwargs))
        if inspect.isawaitable(result):
            return await result
        return result

    async def _invoke_http(
        self, function: RegisteredFunction, request: func.HttpRequest, *, raise_errors: bool
    ) -> func.HttpResponse:
        outs: dict[str, _Out] = {}
        try:
            result = await self._run_function(function, request, outs)
        except Exception as error:
            self.function_errors.append(FunctionError(function.function_name, error))
            logger.error("HTTP function %s failed: %r", function.function_name, error, exc_info=error)
            if raise_errors:
                raise
            return func.HttpResponse(status_code=500)
        finally:
            self._collect_outputs(function, outs)
            self._notify()
        if result is None:
            for name, out in outs.items():
                binding = next(b for b in function.bindings if b.get("name") == name)
                if binding.get("type") == "http" and out.was_set:
                    result = out.value
        if isinstance(result, func.HttpResponse):
            return result
        if result is None:
            return func.HttpResponse(status_code=204)
        if isinstance(result, bytes | str):
            return func.HttpResponse(body=result, status_code=200)
        return func.HttpResponse(body=json.dumps(result), status_code=200, mimetype="application/json")

    # -- the HTTP server

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        try:
            if path.startswith(_RPC_PATH):
                return await self._durable_api(request, path[len(_RPC_PATH) :])
            if path.startswith(_WEBHOOK_PATH):
                if _query_value(request.query, "code") != self.system_key:
                    return web.Response(status=401)
                return await self._durable_api(request, path[len(_WEBHOOK_PATH) :])
            return await self._front_door(request)
        except Exception as error:
            self.internal_errors.append(error)
            logger.exception("FakeDurableHost failed to serve %s %s", request.method, path)
            return _json_response(500, {"Message": "Something went wrong while processing your request"})

    async def _front_door(self, request: web.Request) -> web.StreamResponse:
        found = self._match_route(request.method, request.path)
        if found is None:
            return web.Response(status=404)
        function, route_params = found
        if not self._key_accepted(function, request):
            return web.Response(status=401)
        http_request = func.HttpRequest(
            request.method,
            str(request.url.origin()) + request.raw_path,  # as routed: dot segments kept
            headers=self._signed_in({k.lower(): v for k, v in request.headers.items()}, request),
            params=dict(request.query),
            route_params=route_params,
            body=await request.read(),
        )
        response = await self._invoke_http(function, http_request, raise_errors=False)
        self.http_exchanges.append((http_request, response))
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
        return web.Response(status=response.status_code, body=response.get_body(), headers=headers)

    def _key_accepted(self, function: RegisteredFunction, request: web.Request) -> bool:
        if not self.function_keys or (function.auth_level or "function").lower() == "anonymous":
            return True
        given = request.headers.get("x-functions-key") or _query_value(request.query, "code")
        return given in self.function_keys

    def _signed_in(self, headers: dict[str, str], request: web.Request) -> dict[str, str]:
        """The headers as App Service authentication passes them on (with ``auth_sessions``)."""
        if self.auth_sessions is None:
            return headers
        passed = {k: v for k, v in headers.items() if not k.startswith("x-ms-client-principal")}
        principal = self.auth_sessions.get(request.cookies.get(APP_SERVICE_AUTH_COOKIE, ""))
        if principal:
            passed["x-ms-client-principal-id"] = principal
        return passed

    async def _durable_api(self, request: web.Request, subpath: str) -> web.StreamResponse:
        parts = [p for p in subpath.split("/") if p]
        query = dict(request.query)
        method = request.method.upper()
        if parts and parts[0] == "orchestrators" and len(parts) in (2, 3):
            if method != "POST":
                return web.Response(status=404)
            body = await request.text()
            instance_id = parts[2] if len(parts) == 3 else None
            status, payload = self._start(parts[1], instance_id, body or None, _query_value(query, "version"))
            headers = {"Location": payload["statusQueryGetUri"]} if status == 202 else None
            return _json_response(status, payload, headers)
        if parts and parts[0] == "instances":
            if len(parts) == 1:
                if method == "GET":
                    return self._list_instances_page(query, request.headers.get("x-ms-continuation-token"))
                if method == "DELETE":
                    return self._purge_by_filter(query)
                return web.Response(status=404)
            instance_id = parts[1]
            if len(parts) == 2:
                if method == "GET":
                    return self._get_status(instance_id, query)
                if method == "DELETE":
                    return self._purge_response(instance_id)
                return web.Response(status=404)
            operation = parts[2].lower()
            if method == "POST" and operation == "terminate" and len(parts) == 3:
                return self._terminate_response(instance_id, _query_value(query, "reason") or "")
            if method == "POST" and operation == "raiseevent" and len(parts) == 4:
                instance = self._instances.get(instance_id)
                if instance is None:
                    return web.Response(status=404)
                if instance.is_terminal:
                    return web.Response(status=410)
                if request.content_type.lower() != "application/json":
                    return _json_response(400, {"Message": "Only application/json request content is supported"})
                text = await request.text()
                try:
                    json.loads(text or "null")
                except ValueError:
                    return _json_response(400, {"Message": "Invalid JSON content"})
                self.raise_event(instance_id, parts[3], text or None)
                return web.Response(status=202)
            if method == "POST" and operation in ("suspend", "resume", "rewind", "restart"):
                return _json_response(501, {"Message": f"FakeDurableHost does not support {operation}"})
        if parts and parts[0] == "entities":
            return _json_response(501, {"Message": "FakeDurableHost does not support entities"})
        return web.Response(status=404)

    def _management_payload(self, instance_id: str) -> dict[str, str]:
        urls: dict[str, str] = json.loads(self.starter_json())["managementUrls"]
        return {key: value.replace("INSTANCEID", instance_id) for key, value in urls.items()}

    def _start(
        self, name: str, instance_id: str | None, raw_input: str | None, version: str | None
    ) -> tuple[int, dict[str, Any]]:
        """``POST orchestrators/{name}/{id?}``: (status code, JSON body)."""
        orchestrator = self.functions.orchestrator(name)
        if orchestrator is None:
            message = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            return 400, {
                "Message": "One or more of the arguments submitted is incorrect",
                "ExceptionMessage": message,
                "ExceptionType": "System.ArgumentException",
                "StackTrace": None,
            }
        if raw_input is not None:
            try:
                json.loads(raw_input)
            except ValueError as error:
                return 400, {"Message": "Invalid JSON content", "ExceptionMessage": str(error)}
        instance_id = instance_id or uuid.uuid4().hex
        if any(c in "/\\?#" or ord(c) < 32 for c in instance_id):
            return 400, {"Message": f"Instance ID '{instance_id}' contains invalid characters."}
        existing = self._instances.get(instance_id)
        if existing is not None:
            dedupe = _NON_RUNNING_DEDUPE if self.overridable_existing_instance_states == "NonRunningStates" else set()
            if existing.runtime_status in dedupe:
                return 409, {
                    "Message": f"An Orchestration instance with the status {existing.runtime_status} already exists."
                }
            self._drop(existing)
        instance = OrchestrationInstance(
            instance_id, str(orchestrator.durable_name), raw_input, version, self.clock.now()
        )
        self._instances[instance_id] = instance
        instance._runner = self._spawn(self._run_instance(instance, orchestrator), busy=False)
        self._notify()
        return 202, self._management_payload(instance_id)

    def _get_status(self, instance_id: str, query: Mapping[str, str]) -> web.Response:
        instance = self._instances.get(instance_id)
        if instance is None:
            return web.Response(status=404)
        payload = instance.status_json(
            show_input=_bool_query(query, "showInput", True),
            show_history=_bool_query(query, "showHistory", False),
            show_history_output=_bool_query(query, "showHistoryOutput", False),
        )
        if instance.runtime_status in ("Pending", "Running", "ContinuedAsNew", "Suspended"):
            return _json_response(202, payload, {"Retry-After": "5"})
        if instance.runtime_status == "Failed" and _bool_query(query, "returnInternalServerErrorOnFailure", False):
            return _json_response(500, payload)
        return _json_response(200, payload)

    def _list_instances_page(self, query: Mapping[str, str], token: str | None) -> web.Response:
        """One page of `_list_instances`, paged as the host pages it: at most ``top`` instances (all
        without it); the ``x-ms-continuation-token`` response header names the next page and is
        sent back as a request header to read it; the last page has no token."""
        found = self._list_instances(query)
        start = int(token) if token and token.isdigit() else 0
        top = int(_query_value(query, "top") or 0)
        end = start + top if top > 0 else len(found)
        headers = {"x-ms-continuation-token": str(end)} if end < len(found) else None
        return _json_response(200, found[start:end], headers)

    def _list_instances(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        prefix = _query_value(query, "instanceIdPrefix") or ""
        statuses = {s for s in (_query_value(query, "runtimeStatus") or "").split(",") if s}
        start = _query_value(query, "createdTimeFrom")
        end = _query_value(query, "createdTimeTo")
        show_input = _bool_query(query, "showInput", False)
        found = []
        for instance in self._instances.values():
            if not instance.instance_id.startswith(prefix):
                continue
            if statuses and instance.runtime_status not in statuses:
                continue
            if start and instance.created_time < _parse_time(start):
                continue
            if end and instance.created_time > _parse_time(end):
                continue
            found.append(instance.status_json(show_input=show_input))
        return found

    def _purge_response(self, instance_id: str) -> web.Response:
        instance = self._instances.get(instance_id)
        if instance is None:
            return web.Response(status=404)
        if not instance.is_terminal:
            return _json_response(
                412,
                "Only orchestrations in a terminal state can be purged, but the orchestration with instance ID "
                f"{instance_id} has status {instance.runtime_status}",
            )
        self._drop(instance)
        return _json_response(200, {"instancesDeleted": 1})

    def _purge_by_filter(self, query: Mapping[str, str]) -> web.Response:
        start = _query_value(query, "createdTimeFrom")
        if not start:
            return _json_response(400, "Please provide value for 'createdTimeFrom' parameter.")
        end = _query_value(query, "createdTimeTo")
        statuses = {s for s in (_query_value(query, "runtimeStatus") or "").split(",") if s}
        doomed = [
            i
            for i in self._instances.values()
            if i.is_terminal
            and i.created_time >= _parse_time(start)
            and (not end or i.created_time <= _parse_time(end))
            and (not statuses or i.runtime_status in statuses)
        ]
        for instance in doomed:
            self._drop(instance)
        if not doomed:
            return web.Response(status=404)
        return _json_response(200, {"instancesDeleted": len(doomed)})

    def _terminate_response(self, instance_id: str, reason: str) -> web.Response:
        instance = self._instances.get(instance_id)
        if instance is None:
            return web.Response(status=404)
        if instance.is_terminal:
            return web.Response(status=410)
        self.terminate(instance_id, reason)
        return web.Response(status=202)

    # -- background tasks

    def _spawn(self, coroutine: Awaitable[Any], *, busy: bool) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        if busy:
            self._busy.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            self._busy.discard(finished)
            self._notify()

        task.add_done_callback(done)
        return task

    def _drop(self, instance: OrchestrationInstance) -> None:
        self._stop_instance(instance)
        if self._instances.get(instance.instance_id) is instance:
            del self._instances[instance.instance_id]
        self._notify()

    def _stop_instance(self, instance: OrchestrationInstance) -> None:
        """Cancel the runner and timers; running activities go on (their results are dropped)."""
        for timer in instance._timers.values():
            timer.cancel()
        instance._timers.clear()
        runner = instance._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()

    # -- orchestration execution

    def _event(self, event_type: HistoryEventType, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "EventType": int(event_type),
            "EventId": event_id,
            "IsPlayed": False,
            "Timestamp": _format_time(self.clock.now()),
        }
        event.update(fields)
        return event

    def _execution_started(self, instance: OrchestrationInstance) -> dict[str, Any]:
        return self._event(
            HistoryEventType.EXECUTION_STARTED,
            OrchestrationInstance={"InstanceId": instance.instance_id, "ExecutionId": instance.execution_id},
            ParentInstance=None,
            Name=instance.name,
            Version=instance.version,
            Input=instance.raw_input,
            Tags=None,
            Correlation=None,
            ScheduledStartTime=None,
            Generation=0,
        )

    def _context_json(self, instance: OrchestrationInstance, episode_start: int) -> str:
        history = []
        for index, event in enumerate(instance.history):
            shown = dict(event)
            shown["IsPlayed"] = index < episode_start
            history.append(shown)
        context = {
            "history": history,
            "input": instance.input,
            "instanceId": instance.instance_id,
            "isReplaying": episode_start > 0,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 3,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
        return json.dumps(context)

    @staticmethod
    def _invoke_orchestrator(
        orchestrator: RegisteredFunction, context_json: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Call the orchestrator as the worker does: (state JSON, error message or None)."""
        context = OrchestrationTriggerConverter.decode(Datum(context_json, "json"), trigger_metadata=None)
        try:
            returned = orchestrator.user_function(context)
        except Exception as error:
            return FakeDurableHost._orchestrator_failure(str(error) or type(error).__name__)
        return FakeDurableHost._orchestrator_state(returned)

    @staticmethod
    def _orchestrator_failure(message: str) -> tuple[dict[str, Any] | None, str]:
        """A failed orchestrator execution: the state JSON after ``$OutOfProcData$:``, if any."""
        if _OUT_OF_PROC_MARKER in message:
            head, _, data = message.partition(_OUT_OF_PROC_MARKER)
            try:
                state = json.loads(data)
            except ValueError:
                return None, head.strip() or "orchestrator failed"
            return state, state.get("error") or head.strip() or "orchestrator failed"
        return None, message

    @staticmethod
    def _orchestrator_state(returned: Any) -> tuple[dict[str, Any] | None, str | None]:
        state = json.loads(returned) if isinstance(returned, str | bytes) else returned
        if not isinstance(state, dict):
            return None, f"orchestrator returned {type(returned).__name__}, not the state JSON"
        return state, state.get("error") or None

    async def _run_instance(self, instance: OrchestrationInstance, orchestrator: RegisteredFunction) -> None:
        events = [self._execution_started(instance)]
        try:
            while True:
                follow_up = await self._episode(instance, orchestrator, events)
                if follow_up is not None:
                    events = follow_up
                    continue
                if instance.is_terminal:
                    return
                events = [await instance._inbox.get()]
                if events[0].get("EventType") == HistoryEventType.EXECUTION_TERMINATED:  # a queued terminate
                    instance.history.append(events[0])
                    self._finish(instance, "Terminated", events[0].get("Input"))
                    return
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.internal_errors.append(error)
            logger.exception("FakeDurableHost failed running %s", instance.instance_id)
            if not instance.is_terminal:
                instance.failure = f"FakeDurableHost internal error: {error!r}"
                self._finish(instance, "Failed", instance.failure)

    async def _episode(
        self, instance: OrchestrationInstance, orchestrator: RegisteredFunction, new_events: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """One orchestrator execution; returns the first events of a continued-as-new execution."""
        episode_start = len(instance.history)
        orchestrator_started = self._event(HistoryEventType.ORCHESTRATOR_STARTED)
        started = _parse_time(orchestrator_started["Timestamp"])  # the orchestrator's current_utc_datetime
        instance.history.append(orchestrator_started)
        instance.history.extend(new_events)
        context_json = self._context_json(instance, episode_start)
        instance.last_context = context_json
        instance.episodes += 1
        state, error = await self._run_orchestrator(orchestrator, context_json)
        instance.last_state = state
        if state is not None and state.get("customStatus") is not None:
            instance.custom_status = state["customStatus"]
        instance.last_updated_time = self.clock.now()
        if error is not None or state is None:
            self._fail(instance, error or "orchestrator returned no state")
            return None
        leaves = _flatten_actions(state.get("actions"))
        for known, action in zip(instance._leaves, leaves, strict=False):
            if _Leaf(action).identity != known.identity:
                self._fail(
                    instance,
                    f"Non-Deterministic workflow detected: action {known.identity} was replayed as "
                    f"{_Leaf(action).identity}",
                )
                return None
        if state.get("isDone"):
            continued = next((a for a in leaves if a.get("actionType") == ActionType.CONTINUE_AS_NEW), None)
            if continued is not None:
                return self._continue_as_new(instance, continued)
            instance.history.append(self._event(HistoryEventType.ORCHESTRATOR_COMPLETED))
            instance.history.append(
                self._event(
                    HistoryEventType.EXECUTION_COMPLETED,
                    OrchestrationStatus=_DTFX_ORCHESTRATION_STATUS["Completed"],
                    Result=json.dumps(state.get("output")),
                    FailureDetails=None,
                )
            )
            self._finish(instance, "Completed", state.get("output"))
            return None
        try:
            for event in new_events:
                self._after_event(instance, event, started)
            for leaf, action in zip(instance._leaves, leaves, strict=False):
                leaf.action = action
                if leaf.action_type == ActionType.CREATE_TIMER and action.get("isCanceled"):
                    for event_id in leaf.event_ids:
                        timer = instance._timers.pop(event_id, None)
                        if timer is not None:
                            timer.cancel()
            for action in leaves[len(instance._leaves) :]:
                self._schedule(instance, action, started)
        except UnsupportedActionError as unsupported:
            self._fail(instance, str(unsupported))
            return None
        instance.history.append(self._event(HistoryEventType.ORCHESTRATOR_COMPLETED))
        instance.runtime_status = "Running"
        self._notify()
        return None

    def _fail(self, instance: OrchestrationInstance, error: str) -> None:
        instance.failure = error
        output = f"Orchestrator function '{instance.name}' failed: {error}"
        instance.history.append(self._event(HistoryEventType.ORCHESTRATOR_COMPLETED))
        instance.history.append(
            self._event(
                HistoryEventType.EXECUTION_COMPLETED,
                OrchestrationStatus=_DTFX_ORCHESTRATION_STATUS["Failed"],
                Result=output,
                FailureDetails=None,
            )
        )
        self._finish(instance, "Failed", output)

    def _finish(self, instance: OrchestrationInstance, status: RuntimeStatus, output: Any) -> None:
        instance.runtime_status = status
        instance.output = output
        instance.last_updated_time = self.clock.now()
        self._stop_instance(instance)
        self._notify()

    def _continue_as_new(self, instance: OrchestrationInstance, action: dict[str, Any]) -> list[dict[str, Any]]:
        for timer in instance._timers.values():
            timer.cancel()
        raw = action.get("input")
        instance.raw_input = None if raw is None else json.dumps(raw)
        instance.execution_id = uuid.uuid4().hex
        instance.history = []
        instance._leaves = []
        instance._event_leaf = {}
        instance._timers = {}
        instance._next_event_id = 0
        queued = instance._inbox
        instance._inbox = asyncio.Queue()
        while not queued.empty():  # a terminate names the instance, not the execution: it carries over
            event = queued.get_nowait()
            if event.get("EventType") == HistoryEventType.EXECUTION_TERMINATED:
                instance._inbox.put_nowait(event)
        instance.runtime_status = "Running"
        instance.last_updated_time = self.clock.now()
        self._notify()
        return [self._execution_started(instance)]

    def _schedule(self, instance: OrchestrationInstance, action: dict[str, Any], now: dt.datetime) -> None:
        """Start what a new leaf action asks for, with DTFx's next sequence number."""
        leaf = _Leaf(action)
        kind = leaf.action_type
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            if kind == ActionType.CALL_ACTIVITY_WITH_RETRY:
                options = action.get("retryOptions") or {}
                leaf.retry = _RetryState(
                    first_retry_ms=float(options.get("firstRetryIntervalInMilliseconds", 0)),
                    max_attempts=int(options.get("maxNumberOfAttempts", 1)),
                    backoff=float(options.get("backoffCoefficient", 1.0)),
                    max_interval_ms=options.get("maxRetryIntervalInMilliseconds"),
                )
            instance._leaves.append(leaf)
            self._schedule_activity(instance, leaf, attempt=1)
        elif kind == ActionType.CREATE_TIMER:
            instance._leaves.append(leaf)
            event_id = instance._new_event_id()
            leaf.event_ids.append(event_id)
            instance._event_leaf[event_id] = leaf
            fire_at = _parse_time(str(action["fireAt"]))
            instance.history.append(self._event(HistoryEventType.TIMER_CREATED, event_id, FireAt=_format_time(fire_at)))
            if not action.get("isCanceled"):
                self._start_timer(instance, event_id, fire_at)
        elif kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            instance._leaves.append(leaf)
        else:
            names = {int(member): member.name for member in ActionType}
            described = names.get(kind, str(kind))
            target = action.get("functionName") or action.get("httpRequest") or ""
            raise UnsupportedActionError(f"FakeDurableHost does not support the {described} action {target!r}".strip())

    def _schedule_activity(self, instance: OrchestrationInstance, leaf: _Leaf, attempt: int) -> None:
        event_id = instance._new_event_id()
        leaf.event_ids.append(event_id)
        instance._event_leaf[event_id] = leaf
        name = str(leaf.action.get("functionName"))
        raw_input = leaf.action.get("input")
        instance.history.append(
            self._event(HistoryEventType.TASK_SCHEDULED, event_id, Name=name, Version="", Input=raw_input)
        )
        self._spawn(
            self._execute_activity(instance, instance.execution_id, name, raw_input, event_id, attempt), busy=True
        )

    def _after_event(self, instance: OrchestrationInstance, event: dict[str, Any], now: dt.datetime) -> None:
        """The host's own reaction to a delivered event: the retry interceptor's timers and attempts."""
        event_type = event.get("EventType")
        if event_type == HistoryEventType.TASK_FAILED:
            leaf = instance._event_leaf.get(int(event["TaskScheduledId"]))
            if leaf is None or leaf.retry is None:
                return
            retry = leaf.retry
            delay_ms = retry.first_retry_ms * retry.backoff ** (retry.attempts - 1)
            if retry.max_interval_ms is not None:
                delay_ms = min(delay_ms, float(retry.max_interval_ms))
            fire_at = now + dt.timedelta(milliseconds=delay_ms)
            timer_id = instance._new_event_id()
            retry.timer_id = timer_id
            leaf.event_ids.append(timer_id)
            instance._event_leaf[timer_id] = leaf
            instance.history.append(self._event(HistoryEventType.TIMER_CREATED, timer_id, FireAt=_format_time(fire_at)))
            self._start_timer(instance, timer_id, fire_at)
        elif event_type == HistoryEventType.TIMER_FIRED:
            timer_id = int(event["TimerId"])
            leaf = instance._event_leaf.get(timer_id)
            if leaf is None or leaf.retry is None or leaf.retry.timer_id != timer_id:
                return
            if leaf.retry.attempts < leaf.retry.max_attempts:
                leaf.retry.attempts += 1
                self._schedule_activity(instance, leaf, attempt=leaf.retry.attempts)

    def _start_timer(self, instance: OrchestrationInstance, timer_id: int, fire_at: dt.datetime) -> None:
        execution_id = instance.execution_id

        async def fire() -> None:
            delay = max(0.0, (fire_at - self.clock.now()).total_seconds()) * self.timer_scale
            await asyncio.sleep(delay)
            self.clock.advance_to(fire_at)
            instance._timers.pop(timer_id, None)
            if instance.execution_id == execution_id and not instance.is_terminal:
                event = self._event(HistoryEventType.TIMER_FIRED, TimerId=timer_id, FireAt=_format_time(fire_at))
                instance._inbox.put_nowait(event)

        instance._timers[timer_id] = self._spawn(fire(), busy=False)

    async def _execute_activity(
        self,
        instance: OrchestrationInstance,
        execution_id: str,
        name: str,
        raw_input: str | None,
        task_id: int,
        attempt: int,
    ) -> None:
        """Run the activity's user function for real and post TaskCompleted / TaskFailed."""
        call = ActivityCall(instance.instance_id, name, task_id, attempt, None, dt.datetime.now(dt.UTC))
        self.activity_calls.append(call)
        slots = self._activity_slots or contextlib.nullcontext()
        async with slots:
            function = self.functions.activity(name)
            try:
                if function is None:
                    raise LookupError(f"Activity function '{name}' does not exist.")
                call.input = _decode_activity_input(raw_input)
                result, encoded = await self._run_activity(function, raw_input)
            except Exception as error:
                call.status, call.error = "failed", error
                event = self._event(
                    HistoryEventType.TASK_FAILED,
                    TaskScheduledId=task_id,
                    Reason=f"Activity function '{name}' failed: {_describe(error)}",
                    Details=_exception_details(error),
                    FailureDetails=None,
                )
            else:
                call.status, call.result = "completed", result
                event = self._event(HistoryEventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=encoded)
            finally:
                call.finished_at = dt.datetime.now(dt.UTC)
        if instance.execution_id == execution_id and not instance.is_terminal:
            instance._inbox.put_nowait(event)


def _decode_activity_input(raw_input: str | None) -> Any:
    """The activity's input as the worker's ``ActivityTriggerConverter`` decodes it."""
    if raw_input is None:
        return None
    return ActivityTriggerConverter.decode(Datum(raw_input, "json"), trigger_metadata=None)


def _describe(error: BaseException) -> str:
    """``Type: message``, as the worker's ``RpcException.message`` has it (a worker's error already is)."""
    return str(error) if getattr(error, "from_worker", False) else f"{type(error).__name__}: {error}"


def _exception_details(error: BaseException) -> str:
    """Like the extension's ``Utils.SerializeCause`` of the host's RpcException (one JSON line)."""
    stack = getattr(error, "stack", None) or "".join(
        traceback.format_exception(type(error), error, error.__traceback__)
    ).strip()
    message = f"Result: Failure\nException: {_describe(error)}\nStack: {stack}"
    return json.dumps(
        {
            "$type": "System.Exception, System.Private.CoreLib",
            "ClassName": "System.Exception",
            "Message": message,
            "Data": None,
            "InnerException": None,
            "HelpURL": None,
            "StackTraceString": None,
            "RemoteStackTraceString": None,
            "RemoteStackIndex": 0,
            "ExceptionMethod": None,
            "HResult": -2146233088,
            "Source": None,
            "WatsonBuckets": None,
        }
    )


def _json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(payload),
        content_type="application/json",
        headers=dict(headers or {}),
    )
