"""Creating tasks: `POST /tasks` and queue messages, validated, started in Durable, mirrored."""

from __future__ import annotations

from ..schemas import QueuedTask, TaskCreate, TaskCreated, TaskInput
from ..store import best_effort
from ._parsing import max_body_bytes, validate_create
from ._responses import RETRY_AFTER_SECONDS, ApiResponse, InvalidRequest, unavailable
from ._state import ServiceState, logger


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

    async def _exists(self, task_id: str) -> bool:
        durable, _ = await self._durable_snapshot(task_id)
        return durable is not None or bool(await best_effort(self.store.task_exists, task_id))
