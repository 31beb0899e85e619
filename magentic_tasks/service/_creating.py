"""Creating tasks: `POST /tasks` and queue messages, validated, started in Durable, mirrored."""

from __future__ import annotations

import uuid

from ..schemas import QueuedTask, TaskCreate, TaskCreated, TaskInput
from ..store import best_effort
from ._parsing import max_body_bytes, validate_create
from ._responses import RETRY_AFTER_SECONDS, ApiResponse, InvalidRequest, unavailable
from ._state import ServiceState, logger

# Task ids derived from message keys live in their own UUID namespace.
_MESSAGE_TASKS = uuid.UUID("5b0c2a52-6a0e-4f3c-9b53-7e1f6f1c8d21")


def task_id_for_message(message_key: str) -> str:
    """The task id of a message without one: a name-based UUID of its key (`source:id`)."""
    return str(uuid.uuid5(_MESSAGE_TASKS, message_key))


class Creating(ServiceState):
    """The service's create and submit paths."""

    @property
    def max_body_bytes(self) -> int:
        return max_body_bytes(self.settings)

    def validate_create(self, body: bytes, schema: type[TaskCreate] = TaskCreate) -> TaskCreate:
        """The request as a `schema`, or `InvalidRequest` with every problem found."""
        return validate_create(body, self.settings, schema)

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
            return unavailable("The task could not be started; try again later")
        created = TaskCreated(task_id=task.task_id, status="pending", created_at=task.created_at)
        return ApiResponse(
            202,
            created.model_dump(mode="json"),
            {"Location": f"/tasks/{task.task_id}", "Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def submit_queued(self, body: bytes, *, message_key: str | None = None) -> str | None:
        """A queued message or event: start it and return its id; None when that task already exists.

        Its task id is the message's own `task_id`, else one derived from `message_key` (the
        broker's message id or the event id, stable across redeliveries), so a message delivered
        twice never starts two tasks. Raises `InvalidRequest` for a message that can never succeed
        (the caller drops it)."""
        request = self.validate_create(body, QueuedTask)
        assert isinstance(request, QueuedTask)
        task_id = request.task_id or (task_id_for_message(message_key) if message_key else None)
        if task_id is not None and await self._exists(task_id):
            logger.info("queued task %s already exists; not starting it again", task_id)
            return None
        task = self.new_task(request, owner=None, task_id=task_id)
        await self.start(task)
        return task.task_id

    async def _exists(self, task_id: str) -> bool:
        durable, _ = await self._durable_snapshot(task_id)
        return durable is not None or bool(await best_effort(self.store.task_exists, task_id))
