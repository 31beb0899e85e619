"""The task API's behaviour, independent of Azure: validation, starting tasks, reading them back.

The HTTP and queue functions are thin adapters around `TaskService`. Durable state is read first;
SQLite is the fallback for tasks whose history was purged (and for when Durable cannot be reached),
and it is repaired from Durable state when it lags behind.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from .clock import utc_now
from .errors import ConfigurationError
from .redaction import Redactor
from .schemas import (
    FINAL_STATUSES,
    TASK_ID_PATTERN,
    QueuedTask,
    TaskCreate,
    TaskCreated,
    TaskInput,
    TaskNotFinishedView,
    TaskResultBody,
    TaskResultInfo,
    TaskResultView,
    TaskSnapshot,
    TaskStatusView,
)
from .settings import Settings
from .store import TaskStore, best_effort

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
NOT_FOUND = "Task not found"
_TASK_ID = re.compile(TASK_ID_PATTERN)


class Orchestrations(Protocol):
    """What the service needs from Durable Functions."""

    async def start(self, task: TaskInput) -> None: ...

    async def snapshot(self, task_id: str) -> TaskSnapshot | None: ...


@dataclass
class ApiResponse:
    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class InvalidRequest(Exception):
    """A request that fails validation; `detail` is FastAPI's list of errors."""

    def __init__(self, detail: list[dict[str, Any]], status_code: int = 422) -> None:
        super().__init__(json.dumps(detail))
        self.detail = detail
        self.status_code = status_code


def _error(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"type": kind, "loc": list(loc), "msg": msg}


def _validation_detail(error: ValidationError, prefix: str) -> list[dict[str, Any]]:
    """Pydantic's errors in FastAPI's shape, without echoing the input back."""
    return [
        _error((prefix, *item["loc"]), item["msg"], item["type"])
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse_json_object(body: bytes, max_bytes: int) -> Any:
    """The request body as JSON, or `InvalidRequest` shaped as FastAPI reports it."""
    if len(body) > max_bytes:
        raise InvalidRequest([_error(("body",), f"Request body exceeds {max_bytes} bytes", "too_large")], 413)
    if not body.strip():
        raise InvalidRequest([_error(("body",), "Field required", "missing")])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            [_error(("body", error.start), "Body is not valid UTF-8", "json_invalid")]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest([_error(("body", error.pos), f"JSON decode error: {error.msg}", "json_invalid")]) from None


class TaskService:
    """Creates tasks and answers for them, reading Durable state first and SQLite second."""

    def __init__(
        self,
        settings: Settings,
        orchestrations: Orchestrations,
        store: TaskStore | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.settings = settings
        self.orchestrations = orchestrations
        self.store = store or TaskStore.from_settings(settings)
        self.clock = clock
        self.new_id = new_id
        self.redact = Redactor(settings.secrets())

    # ---- creating tasks ---------------------------------------------------------------------

    @property
    def max_body_bytes(self) -> int:
        # Room for a prompt of MAX_PROMPT_CHARS characters of up to 4 UTF-8 bytes, or 6 JSON-escaped.
        return self.settings.max_prompt_chars * 6 + 4096

    def validate_create(self, body: bytes, schema: type[TaskCreate] = TaskCreate) -> TaskCreate:
        """The request as a `schema`, or `InvalidRequest` with every problem found."""
        data = parse_json_object(body, self.max_body_bytes)
        try:
            request = schema.model_validate(data)
        except ValidationError as error:
            raise InvalidRequest(_validation_detail(error, "body")) from None
        problems: list[dict[str, Any]] = []
        limit = self.settings.max_prompt_chars
        if len(request.prompt) > limit:
            problems.append(
                _error(("body", "prompt"), f"String should have at most {limit} characters", "string_too_long")
            )
        provider = self.settings.provider_problem(request.use_aoai)
        if provider:
            problems.append(_error(("body", "use_aoai"), provider, "provider_not_configured"))
        if not self.settings.model_allowed(request.model_name):
            allowed = ", ".join(self.settings.allowed_models)
            problems.append(
                _error(
                    ("body", "model_name"),
                    f"Model '{request.model_name}' is not allowed on this server (allowed: {allowed})",
                    "model_not_allowed",
                )
            )
        if problems:
            raise InvalidRequest(problems)
        return request

    def new_task(self, request: TaskCreate, owner: str | None, task_id: str | None = None) -> TaskInput:
        return TaskInput(
            task_id=task_id or self.new_id(),
            prompt=request.prompt,
            use_aoai=request.use_aoai,
            model_name=request.model_name,
            owner=owner,
            created_at=self.clock(),
            max_attempts=self.settings.activity_max_attempts,
            first_retry_ms=int(self.settings.activity_first_retry_seconds * 1000),
        )

    async def start(self, task: TaskInput) -> None:
        """Start the orchestration, then mirror the pending task (best effort: Durable is the truth)."""
        await self.orchestrations.start(task)
        await best_effort(self.store.create_task, task)

    async def create(self, body: bytes, owner: str | None) -> ApiResponse:
        """`POST /tasks`."""
        try:
            request = self.validate_create(body)
        except InvalidRequest as invalid:
            return ApiResponse(invalid.status_code, {"detail": invalid.detail})
        task = self.new_task(request, owner)
        try:
            await self.start(task)
        except Exception as error:
            logger.error("task %s could not be started: %s", task.task_id, self.redact(str(error)))
            return ApiResponse(503, {"detail": "The task could not be started; try again later"},
                               {"Retry-After": str(RETRY_AFTER_SECONDS)})
        created = TaskCreated(task_id=task.task_id, status="pending", created_at=task.created_at)
        return ApiResponse(
            202,
            created.model_dump(mode="json"),
            {"Location": f"/tasks/{task.task_id}", "Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def submit_queued(self, body: bytes) -> str | None:
        """A queue message: start it and return its id; None when that task id already exists.

        Raises `InvalidRequest` for a message that can never succeed (the caller drops it)."""
        request = self.validate_create(body, QueuedTask)
        assert isinstance(request, QueuedTask)
        if request.task_id is not None and await self._exists(request.task_id):
            logger.info("queued task %s already exists; not starting it again", request.task_id)
            return None
        task = self.new_task(request, owner=None, task_id=request.task_id)
        await self.start(task)
        return task.task_id

    # ---- reading tasks ----------------------------------------------------------------------

    async def status(self, task_id: str, owner: str | None) -> ApiResponse:
        """`GET /tasks/{task_id}`."""
        found = await self._find(task_id, owner)
        if isinstance(found, ApiResponse):
            return found
        view = TaskStatusView(
            task_id=found.task_id,
            status=found.status,
            prompt=found.prompt,
            created_at=found.created_at,
            updated_at=found.updated_at,
        )
        return ApiResponse(200, view.model_dump(mode="json"))

    async def result(self, task_id: str, owner: str | None) -> ApiResponse:
        """`GET /tasks/{task_id}/result`: 200 once finished (failed included), 202 before."""
        found = await self._find(task_id, owner)
        if isinstance(found, ApiResponse):
            return found
        outcome = found.outcome
        if found.status not in FINAL_STATUSES or outcome is None:
            pending = TaskNotFinishedView(task_id=found.task_id, status=found.status, detail="Task is not finished yet")
            return ApiResponse(202, pending.model_dump(mode="json"), {"Retry-After": str(RETRY_AFTER_SECONDS)})
        view = TaskResultView(
            task_id=found.task_id,
            status=found.status,
            result=TaskResultBody(
                messages=outcome.messages,
                task_result=TaskResultInfo(
                    status=outcome.status,
                    stop_reason=outcome.stop_reason,
                    final_answer=outcome.final_answer,
                    error=outcome.error,
                ),
                execution_time=outcome.execution_time,
                usage_by_agent=outcome.usage_by_agent,
                attempts=outcome.attempts,
            ),
            prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens,
            created_at=found.created_at,
            updated_at=found.updated_at,
            error=outcome.error,
        )
        return ApiResponse(200, view.model_dump(mode="json"))

    async def _find(self, task_id: str, owner: str | None) -> TaskSnapshot | ApiResponse:
        if not _TASK_ID.fullmatch(task_id):
            detail = [_error(("path", "task_id"), f"Task ids match {TASK_ID_PATTERN}", "string_pattern_mismatch")]
            return ApiResponse(422, {"detail": detail})
        durable, durable_ok = await self._durable_snapshot(task_id)
        # SQLite is read only when it can change the answer: Durable lacks the task, or it has
        # finished (SQLite keeps the images, and may need the result copied in). Polls of a running
        # task stay off the file share.
        needs_mirror = durable is None or durable.outcome is not None
        mirrored = await best_effort(self.store.get_task, task_id) if needs_mirror else None
        snapshot = _prefer(durable, mirrored)
        if snapshot is None:
            if not durable_ok and mirrored is None:
                return ApiResponse(503, {"detail": "Task state is unavailable; try again later"},
                                   {"Retry-After": str(RETRY_AFTER_SECONDS)})
            return ApiResponse(404, {"detail": NOT_FOUND})
        if snapshot.owner is not None and snapshot.owner != owner:
            return ApiResponse(404, {"detail": NOT_FOUND})
        if durable is not None:
            await self._repair_mirror(durable, mirrored)
        return snapshot

    async def reconcile(self, task_ids: list[str]) -> int:
        """Copy finished results that SQLite is missing from Durable state; how many were copied."""
        repaired = 0
        for task_id in task_ids:
            durable, _ = await self._durable_snapshot(task_id)
            if durable is not None and durable.outcome is not None:
                repaired += await self._repair_mirror(durable, await best_effort(self.store.get_task, task_id))
        return repaired

    async def _durable_snapshot(self, task_id: str) -> tuple[TaskSnapshot | None, bool]:
        try:
            return await self.orchestrations.snapshot(task_id), True
        except Exception as error:
            logger.warning("Durable state for task %s unavailable: %s", task_id, self.redact(str(error)))
            return None, False

    async def _exists(self, task_id: str) -> bool:
        durable, _ = await self._durable_snapshot(task_id)
        return durable is not None or bool(await best_effort(self.store.task_exists, task_id))

    async def _repair_mirror(self, durable: TaskSnapshot, mirrored: TaskSnapshot | None) -> bool:
        """Copy a finished result that SQLite missed (it was locked or unwritable at the time);
        whether anything was copied."""
        if durable.outcome is None or (mirrored is not None and mirrored.outcome is not None):
            return False
        task = TaskInput(
            task_id=durable.task_id,
            prompt=durable.prompt,
            use_aoai=durable.use_aoai,
            model_name=durable.model_name,
            owner=durable.owner,
            created_at=durable.created_at,
        )
        saved = await best_effort(self.store.save_outcome, task, durable.outcome, None)
        return saved is not None


def _prefer(durable: TaskSnapshot | None, mirrored: TaskSnapshot | None) -> TaskSnapshot | None:
    """Durable state is authoritative; SQLite fills in what Durable no longer has.

    The transcript is taken from SQLite when it has the finished task, because only SQLite keeps
    image bytes (Durable keeps references)."""
    if durable is None:
        return mirrored
    if (
        durable.outcome is not None
        and mirrored is not None
        and mirrored.outcome is not None
        and len(mirrored.outcome.messages) >= len(durable.outcome.messages)
    ):
        outcome = durable.outcome.model_copy(update={"messages": mirrored.outcome.messages})
        return durable.model_copy(update={"outcome": outcome})
    return durable


def config_error_response(error: ValidationError | ConfigurationError) -> ApiResponse:
    """A settings problem, told plainly without the offending values."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
    else:
        problems = str(error)
    return ApiResponse(500, {"detail": f"Server configuration error: {problems}"})

