"""A scripted, OpenAI-compatible chat-completions server that can drive a whole Magentic-One run.

It is a real HTTP server (stdlib, threaded, 127.0.0.1, a free port), so autogen's real
`OpenAIChatCompletionClient` and `AzureOpenAIChatCompletionClient` talk to it over HTTP with the
openai SDK's own retries, timeouts, structured-output parsing and usage accounting.

Which call it is answering is recognised from the last user message, by fragments of autogen's
own orchestrator prompt templates; any other call is an agent's turn. The WebSurfer's turns are
recognised by its tools (`visit_url`) and answered with the script's `web_surfer` steps: a tool
call (`visit`, `click`, `type_into`, `scroll_down`, ...) or text. Every answer carries a
deterministic `usage`, and the server keeps totals of the tokens it served, so tests can assert
that the tokens a run reports are exactly the tokens the model "spent".

    with ScriptedModelServer(Script(rounds_before_satisfied=1)) as server:
        settings = Settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test")
"""

from __future__ import annotations

import json
import re
import select
import socket
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from autogen_agentchat.teams._group_chat._magentic_one._prompts import (
    ORCHESTRATOR_FINAL_ANSWER_PROMPT,
    ORCHESTRATOR_PROGRESS_LEDGER_PROMPT,
    ORCHESTRATOR_TASK_LEDGER_FACTS_PROMPT,
    ORCHESTRATOR_TASK_LEDGER_FACTS_UPDATE_PROMPT,
    ORCHESTRATOR_TASK_LEDGER_PLAN_PROMPT,
    ORCHESTRATOR_TASK_LEDGER_PLAN_UPDATE_PROMPT,
)
from autogen_ext.agents.magentic_one._magentic_one_coder_agent import MAGENTIC_ONE_CODER_SYSTEM_MESSAGE
from autogen_ext.agents.web_surfer._prompts import WEB_SURFER_QA_SYSTEM_MESSAGE

CallKind = Literal[
    "facts", "plan", "ledger", "facts_update", "plan_update", "final_answer", "coder", "file_surfer", "web_surfer",
    "web_surfer_qa", "agent",
]
ORCHESTRATOR_KINDS: frozenset[str] = frozenset(
    {"facts", "plan", "ledger", "facts_update", "plan_update", "final_answer"}
)
BROKEN_LEDGER = '{"is_request_satisfied": {"reason": "cut off mid-sentence'
DEFAULT_API_VERSION = "2024-10-21"


def _fragment(template: str) -> str:
    """The longest literal run of a prompt template: text every formatted prompt contains verbatim."""
    literals = [literal.strip() for literal, *_ in string.Formatter().parse(template)]
    return max(literals, key=len)


# Checked in this order; the ledger prompt embeds the task, so the task text is never what matches.
_FRAGMENTS: tuple[tuple[CallKind, str], ...] = (
    ("final_answer", _fragment(ORCHESTRATOR_FINAL_ANSWER_PROMPT)),
    ("plan_update", _fragment(ORCHESTRATOR_TASK_LEDGER_PLAN_UPDATE_PROMPT)),
    ("facts_update", _fragment(ORCHESTRATOR_TASK_LEDGER_FACTS_UPDATE_PROMPT)),
    ("ledger", _fragment(ORCHESTRATOR_PROGRESS_LEDGER_PROMPT)),
    ("plan", _fragment(ORCHESTRATOR_TASK_LEDGER_PLAN_PROMPT)),
    ("facts", _fragment(ORCHESTRATOR_TASK_LEDGER_FACTS_PROMPT)),
)
_CODER_MARK = MAGENTIC_ONE_CODER_SYSTEM_MESSAGE.splitlines()[1].strip()
_WEB_QA_MARK = WEB_SURFER_QA_SYSTEM_MESSAGE.strip()
# The ids the WebSurfer gives the page's interactive elements, as its prompt lists them.
_TARGET = re.compile(r'\{"id": (\d+), "name": "([^"]*)"')
# Tools whose element the script names by its label (`target`); the argument that takes its id.
_TARGET_ARGUMENT = {
    "click": "target_id", "hover": "target_id", "input_text": "input_field_id",
    "scroll_element_down": "target_id", "scroll_element_up": "target_id",
}


@dataclass(frozen=True)
class WebCall:
    """One tool call of the WebSurfer. `target` names an element by its label (a link's text, a
    field's name): the server puts the id the WebSurfer's prompt gave it into the call."""

    tool: str
    arguments: tuple[tuple[str, Any], ...] = ()
    target: str | None = None

    def answer(self, request_text: str) -> tuple[str, str]:
        """The call's name and JSON arguments for a request whose messages' text is `request_text`."""
        arguments: dict[str, Any] = {"reasoning": "As scripted.", **dict(self.arguments)}
        if self.target is not None:
            ids = {name: int(found) for found, name in _TARGET.findall(request_text)}
            if self.target not in ids:
                raise LookupError(f"no element named {self.target!r} on the page; it lists {sorted(ids)}")
            arguments[_TARGET_ARGUMENT[self.tool]] = ids[self.target]
        return self.tool, json.dumps(arguments)


def visit(url: str) -> WebCall:
    return WebCall("visit_url", (("url", url),))


def click(label: str) -> WebCall:
    return WebCall("click", target=label)


def type_into(label: str, text: str) -> WebCall:
    return WebCall("input_text", (("text_value", text),), target=label)


def scroll_down() -> WebCall:
    return WebCall("scroll_down")


WebStep = WebCall | str  # a tool call, or the WebSurfer's text answer


@dataclass(frozen=True)
class Script:
    """What the scripted model says.

    The first `rounds_before_satisfied` progress ledgers say the request is not satisfied and hand
    the turn to `next_speaker`; the ones after say it is. Agents answer `agent_reply`; the
    WebSurfer takes its `web_surfer` steps in turn, then answers `agent_reply` too. Ledgers and
    steps are counted over the whole server, or with `per_task` per task (`task_key`).
    """

    rounds_before_satisfied: int = 1
    next_speaker: str = "Coder"
    instruction: str = "Please compute 6 * 7 and report the result."
    agent_reply: str = "6 * 7 = 42. The result is 42."
    final_answer: str = "SCRIPTED-FINAL-ANSWER: the result is 42."
    facts: str = "1. GIVEN OR VERIFIED FACTS\n- The request asks for 6 * 7.\n2. FACTS TO LOOK UP\n- None."
    plan: str = "- Coder: compute 6 * 7.\n- Report the result."
    progress_being_made: bool = True
    in_loop: bool = False
    no_progress_at: frozenset[int] = frozenset()  # progress ledgers (by index) that report no progress
    web_surfer: tuple[WebStep, ...] = ()
    per_task: bool = False
    # Per progress ledger (by index): (next_speaker, instruction), in place of the two above.
    turns: tuple[tuple[str, str], ...] = ()
    # The FileSurfer's answer as a tool call (tool name, JSON arguments) instead of `agent_reply`.
    file_surfer_tool: tuple[str, str] | None = None


@dataclass(frozen=True)
class Faults:
    """Failures to inject. Counts are over the requests received since the faults were set, retries included."""

    fail_first: int = 0  # the first N (eligible) requests fail with `status`
    fail_all: bool = False  # every (eligible) request fails with `status`
    fail_kinds: frozenset[str] | None = None  # only calls of these kinds are eligible (None: all)
    status: int = 500
    retry_after_ms: int | None = 10  # sent with each failure; the openai SDK waits this long
    broken_ledger_from: int | None = None  # progress ledgers from this index on are broken JSON (0: all)
    latency: float = 0.0  # seconds slept before each answer
    canary: str | None = None  # text put in each error message
    echo_credentials: bool = False  # put the api-key / bearer token received in each error message
    # While sleeping `latency`, watch the connection: a client that hung up (a cancelled call) is
    # recorded as `abandoned` and gets no answer, its tokens are not counted as served, and the
    # script does not move on (its next call of that kind gets the answer this one would have had).
    notice_hangups: bool = False
    # Requests after the first `hold_after` (since the faults were set) wait until `release_all()`.
    hold_after: int | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class RecordedRequest:
    """One request as received, and what the server did with it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    kind: CallKind | None = None
    status: int = 200
    usage: Usage | None = None  # set when the call was answered
    received_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None  # when it was answered, failed or (with notice_hangups) abandoned
    abandoned: bool = False  # the client hung up before the answer (Faults.notice_hangups)
    held: bool = False  # answered only after `release_all()` (Faults.hold_after)

    @property
    def deployment(self) -> str | None:
        parts = self.path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "openai" and parts[1] == "deployments":
            return parts[2]
        return None


def prompt_tokens_for(body: dict[str, Any]) -> int:
    """Deterministic prompt tokens: about one per four characters of the messages sent."""
    return 11 + len(json.dumps(body.get("messages", []), sort_keys=True)) // 4


def completion_tokens_for(text: str) -> int:
    return 3 + len(text) // 4


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def task_key(kind: CallKind, body: dict[str, Any]) -> str:
    """Which task a request belongs to (`Script.per_task`): its first message, which is the task
    (the orchestrator's calls) or the orchestrator's opening that names it (the WebSurfer's, when
    they carry its chat history: GPT-4o-family models). A WebSurfer call without its history
    cannot be told apart: those share one count."""
    messages: list[dict[str, Any]] = body.get("messages") or []
    if not messages or (kind == "web_surfer" and len(messages) <= 2):
        return ""
    return message_text(messages[0])


def tool_names(body: dict[str, Any]) -> set[str]:
    return {str((tool.get("function") or {}).get("name")) for tool in body.get("tools") or []}


def classify(body: dict[str, Any]) -> CallKind:
    """Which Magentic-One call a chat-completions request is."""
    messages: list[dict[str, Any]] = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    last = message_text(users[-1]) if users else ""
    for kind, fragment in _FRAGMENTS:
        if fragment in last:
            return kind
    system = "\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer"))
    if _CODER_MARK in system:
        return "coder"
    if "visit_url" in tool_names(body):
        return "web_surfer"
    if _WEB_QA_MARK in system:
        return "web_surfer_qa"
    if body.get("tools"):
        return "file_surfer"
    return "agent"


class ScriptedModelServer:
    """The server; a context manager. Thread-safe: the handler threads share one lock."""

    def __init__(self, script: Script | None = None, faults: Faults | None = None) -> None:
        self.script = script or Script()
        self._faults = faults or Faults()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.served_by_kind: dict[str, Usage] = {}
        self._ledgers_answered: Counter[str] = Counter()  # per task with Script.per_task, else under ""
        self._web_steps: Counter[str] = Counter()  # the same for the WebSurfer's steps
        self._eligible_seen = 0  # requests eligible for failure since the faults were set
        self._holds: dict[str, threading.Event] = {}  # call kinds held unanswered until released
        self._seen = 0  # requests since the faults were set
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._connections = 0  # open, each in a thread of its own
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedModelServer:
        handler = type("_Handler", (_Handler,), {"model_server": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """For OpenAI clients (`OPENAI_BASE_URL`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        """For Azure OpenAI clients (`AZURE_OPENAI_ENDPOINT`)."""
        return f"http://127.0.0.1:{self.port}"

    # ---- configuration -----------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the faults, or change some of their fields."""
        with self._lock:
            self._faults = replace(faults or self._faults, **changes)
            self._eligible_seen = 0
            self._seen = 0

    @property
    def connections(self) -> int:
        """Client connections still open (a request being read, held, answered, or the next awaited)."""
        with self._lock:
            return self._connections

    def release_all(self) -> None:
        """Let the requests held by `Faults.hold_after` (and every later one) be answered."""
        self._released.set()

    def hold(self, kind: CallKind) -> None:
        """Keep every call of `kind` unanswered until `release(kind)`: the run waits in that call, so a
        test can look at a running task without racing it to its end."""
        with self._lock:
            self._holds[kind] = threading.Event()

    def release(self, kind: CallKind) -> None:
        """Answer the held calls of `kind`, and every later one at once."""
        with self._lock:
            held = self._holds.pop(kind, None)
        if held is not None:
            held.set()

    def _wait_if_held(self, kind: CallKind | None) -> bool:
        """Wait while calls of `kind` are held; True when the server stops meanwhile."""
        with self._lock:
            held = self._holds.get(kind) if kind is not None else None
        while held is not None and not held.wait(0.01):
            if self._stopping.is_set():
                return True
        return False

    # ---- what was served ---------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Requests received, failed ones included."""
        with self._lock:
            return len(self.requests)

    @property
    def answered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.usage is not None]

    @property
    def calls_by_kind(self) -> Counter[str]:
        with self._lock:
            return Counter(r.kind for r in self.requests if r.kind is not None)

    @property
    def served(self) -> Usage:
        """Tokens of every answer sent (as a provider bills them: even if the client had stopped listening)."""
        with self._lock:
            return sum(self.served_by_kind.values(), Usage())

    @property
    def served_prompt_tokens(self) -> int:
        return self.served.prompt_tokens

    @property
    def served_completion_tokens(self) -> int:
        return self.served.completion_tokens

    def served_for(self, kinds: frozenset[str] | set[str]) -> Usage:
        with self._lock:
            return sum((u for k, u in self.served_by_kind.items() if k in kinds), Usage())

    @property
    def served_orchestrator(self) -> Usage:
        return self.served_for(ORCHESTRATOR_KINDS)

    # ---- answering ---------------------------------------------------------------------------

    def _admit(self, record: RecordedRequest) -> tuple[Faults, bool, int]:
        """Record a request; return the faults in force, whether it fails, and its ledger index (for
        the WebSurfer: its step's index)."""
        with self._lock:
            self.requests.append(record)
            faults = self._faults
            self._seen += 1
            record.held = faults.hold_after is not None and self._seen > faults.hold_after
            fails = False
            if faults.fail_kinds is None or record.kind in faults.fail_kinds:
                self._eligible_seen += 1
                fails = faults.fail_all or self._eligible_seen <= faults.fail_first
            ledger_index = -1
            counts = {"ledger": self._ledgers_answered, "web_surfer": self._web_steps}.get(record.kind or "")
            if not fails and counts is not None:
                assert record.kind is not None
                key = task_key(record.kind, record.body) if self.script.per_task else ""
                ledger_index = counts[key]
                counts[key] += 1
            return faults, fails, ledger_index

    def _unanswered(self, record: RecordedRequest, ledger_index: int) -> None:
        """A call its client gave up on before the answer leaves the script where it was: the next
        call of its kind gets the answer this one would have had (as a model that never answered)."""
        with self._lock:
            counts = {"ledger": self._ledgers_answered, "web_surfer": self._web_steps}.get(record.kind or "")
            key = task_key(record.kind, record.body) if record.kind and self.script.per_task else ""
            if counts is not None and ledger_index >= 0 and counts[key] == ledger_index + 1:
                counts[key] -= 1

    def _served(self, record: RecordedRequest, usage: Usage) -> None:
        with self._lock:
            record.usage = usage
            record.ended_at = time.monotonic()
            assert record.kind is not None
            self.served_by_kind[record.kind] = self.served_by_kind.get(record.kind, Usage()) + usage

    def web_step(self, index: int) -> WebStep:
        """The WebSurfer's answer at this step of its task."""
        steps = self.script.web_surfer
        return steps[index] if 0 <= index < len(steps) else self.script.agent_reply

    def reply_text(self, kind: CallKind, ledger_index: int, faults: Faults) -> str:
        script = self.script
        if kind == "facts" or kind == "facts_update":
            return script.facts
        if kind == "plan" or kind == "plan_update":
            return script.plan
        if kind == "final_answer":
            return script.final_answer
        if kind == "ledger":
            if faults.broken_ledger_from is not None and ledger_index >= faults.broken_ledger_from:
                return BROKEN_LEDGER
            return json.dumps(self.ledger(satisfied=ledger_index >= script.rounds_before_satisfied, index=ledger_index))
        return script.agent_reply

    def tool_call(self, kind: CallKind) -> tuple[str, str] | None:
        """The tool call this call is answered with, if any (the FileSurfer's, when scripted)."""
        return self.script.file_surfer_tool if kind == "file_surfer" else None

    def ledger(self, *, satisfied: bool, index: int = -1) -> dict[str, dict[str, Any]]:
        script = self.script
        progress = script.progress_being_made and index not in script.no_progress_at
        speaker, instruction = script.next_speaker, script.instruction
        if 0 <= index < len(script.turns):
            speaker, instruction = script.turns[index]
        return {
            "is_request_satisfied": {
                "reason": "The result has been reported." if satisfied else "Nothing has been computed yet.",
                "answer": satisfied,
            },
            "is_in_loop": {"reason": "Each step is new.", "answer": script.in_loop},
            "is_progress_being_made": {"reason": "Steps are adding value.", "answer": progress},
            "next_speaker": {"reason": "The Coder can compute it.", "answer": speaker},
            "instruction_or_question": {"reason": "A direct instruction.", "answer": instruction},
        }


def _completion_id(n: int) -> str:
    return f"chatcmpl-scripted-{n}"


def _resolved_model(model: str) -> str:
    """The model name to report: autogen warns when it differs from the one it resolved."""
    try:
        from autogen_ext.models.openai._model_info import resolve_model

        return resolve_model(model)
    except Exception:
        return model


class _Handler(BaseHTTPRequestHandler):
    model_server: ScriptedModelServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.model_server._lock:
            self.model_server._connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.model_server._lock:
                self.model_server._connections -= 1

    def do_GET(self) -> None:
        self._send_json(HTTPStatus.NOT_FOUND, _error_body("not found", "invalid_request_error", "not_found"))

    def do_POST(self) -> None:
        server = self.model_server
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        record = RecordedRequest(
            method="POST",
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else {},
        )
        is_openai = url.path.rstrip("/") == "/v1/chat/completions"
        is_azure = record.deployment is not None and url.path.endswith("/chat/completions")
        if not (is_openai or is_azure):
            record.status = 404
            with server._lock:
                server.requests.append(record)
            self._send_json(HTTPStatus.NOT_FOUND, _error_body(f"no route {url.path}", "invalid_request_error", None))
            return
        record.kind = classify(record.body)
        faults, fails, ledger_index = server._admit(record)
        while record.held and not server._released.wait(0.02):
            if server._stopping.is_set():
                return
        if faults.latency and self._sleep(faults.latency, record, faults.notice_hangups):
            if record.abandoned:
                server._unanswered(record, ledger_index)
            return
        if server._wait_if_held(record.kind):
            return
        if fails:
            record.ended_at = time.monotonic()
            record.status = faults.status
            self._send_error(faults, record)
            return
        step = server.web_step(ledger_index) if record.kind == "web_surfer" else None
        call: tuple[str, str] | None = None
        if isinstance(step, WebCall):
            try:
                call = step.answer("\n".join(message_text(m) for m in record.body.get("messages") or []))
            except LookupError as error:  # a script that names an element the page does not have
                record.status = 400
                self._send_json(HTTPStatus.BAD_REQUEST, _error_body(str(error), "invalid_request_error", None))
                return
        text = step if isinstance(step, str) else server.reply_text(record.kind, ledger_index, faults)
        tool = server.tool_call(record.kind)  # the FileSurfer's, when scripted
        if call is not None:
            text = ""
        usage = Usage(prompt_tokens_for(record.body),
                      completion_tokens_for(tool[1] if tool is not None else text or "".join(call or ())))
        server._served(record, usage)
        model = _resolved_model(str(record.body.get("model") or record.deployment or "scripted"))
        n = server.calls
        if tool is not None:
            self._send_json(HTTPStatus.OK, _tool_completion(n, model, tool, usage))
        elif record.body.get("stream"):
            options = record.body.get("stream_options") or {}
            self._send_stream(n, model, text, usage if options.get("include_usage") else None, call)
        else:
            self._send_json(HTTPStatus.OK, _completion(n, model, text, usage, call))

    def _sleep(self, seconds: float, record: RecordedRequest, notice_hangups: bool) -> bool:
        """Wait `seconds`; True when the answer must not be sent (the server stops, or the client left)."""
        server = self.model_server
        if not notice_hangups:
            return server._stopping.wait(seconds)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if server._stopping.wait(min(left, 0.01)):
                return True
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):  # EOF: the client hung up
                with server._lock:
                    record.abandoned, record.ended_at = True, time.monotonic()
                self.close_connection = True
                return True
        return False

    # ---- writing -----------------------------------------------------------------------------

    def _send_error(self, faults: Faults, record: RecordedRequest) -> None:
        message = f"Scripted failure with status {faults.status}."
        if faults.canary:
            message += f" canary={faults.canary}"
        if faults.echo_credentials:
            received = record.headers.get("api-key") or record.headers.get("authorization", "")
            message += f" Credentials received: {received}"
        kinds = {429: ("rate_limit_exceeded", "requests"), 401: ("invalid_api_key", "invalid_request_error")}
        code, error_type = kinds.get(faults.status, ("server_error", "server_error"))
        headers = {"retry-after-ms": str(faults.retry_after_ms)} if faults.retry_after_ms is not None else {}
        self._send_json(faults.status, _error_body(message, error_type, code), headers)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", f"req-scripted-{id(payload)}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, cancellation)
            self.close_connection = True

    def _send_stream(
        self, n: int, model: str, text: str, usage: Usage | None, call: tuple[str, str] | None = None
    ) -> None:
        """Server-sent events: a role chunk, content chunks (or a tool call's), a finish chunk, a
        usage chunk, [DONE]."""
        base = {
            "id": _completion_id(n),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_scripted",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
        events = [chunk({"role": "assistant", "content": ""})]
        if call is None:
            events += [chunk({"content": piece}) for piece in pieces]
            events.append(chunk({}, "stop"))
        else:
            name, arguments = call
            events.append(chunk({"tool_calls": [{"index": 0, "id": f"call_{n}", "type": "function",
                                                 "function": {"name": name, "arguments": arguments}}]}))
            events.append(chunk({}, "tool_calls"))
        if usage is not None:
            events.append({**base, "choices": [], "usage": _usage_json(usage)})
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            for event in events:
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total,
    }


def _completion(n: int, model: str, text: str, usage: Usage, call: tuple[str, str] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if call is not None:
        name, arguments = call
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": arguments}},
        ]}
    return {
        "id": _completion_id(n),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_scripted",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "stop" if call is None else "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": _usage_json(usage),
    }


def _tool_completion(n: int, model: str, tool: tuple[str, str], usage: Usage) -> dict[str, Any]:
    body = _completion(n, model, "", usage)
    call = {"id": f"call_scripted_{n}", "type": "function", "function": {"name": tool[0], "arguments": tool[1]}}
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def _error_body(message: str, error_type: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
