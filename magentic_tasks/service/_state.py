"""What every use of the service shares: its settings, its two stores and its clock."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from ..clock import utc_now
from ..redaction import Redactor
from ..schemas import MessageView, TaskInput, TaskSnapshot
from ..settings import Settings
from ..store import TaskStore

logger = logging.getLogger("magentic_tasks.service")


class Orchestrations(Protocol):
    """What the service needs from Durable Functions."""

    async def start(self, task: TaskInput) -> None: ...

    async def snapshot(self, task_id: str) -> TaskSnapshot | None:
        """The task as Durable state knows it; a finished one's outcome without its transcript."""
        ...

    async def transcript(self, task_id: str) -> list[MessageView] | None:
        """A finished task's transcript as Durable's history holds it (the run's result); None without one."""
        ...

    async def recent(self, created_from: datetime) -> list[TaskSnapshot]:
        """Every task created since `created_from`, as Durable state knows it."""
        ...

    async def callback_state(self, task_id: str) -> dict[str, Any] | None:
        """The delivery state of the task's callback (its orchestration's custom status), if any."""
        ...

    async def terminate(self, task_id: str, reason: str) -> None:
        """End the task's orchestration (its running activity notices and stops the team)."""
        ...

    async def purge(self, task_id: str) -> None:
        """Remove the task's Durable history (nothing to do when there is none)."""
        ...

    async def finished_ids(
        self, created_from: datetime | None = None, *, created_to: datetime | None = None
    ) -> tuple[list[str], bool]:
        """Ids of the tasks created in the range that finished; and whether the whole range was read."""
        ...


def task_input_of(snapshot: TaskSnapshot) -> TaskInput:
    """The task's input as far as a snapshot of it says, to write its row into the mirror."""
    return TaskInput(task_id=snapshot.task_id, prompt=snapshot.prompt, use_aoai=snapshot.use_aoai,
                     model_name=snapshot.model_name, owner=snapshot.owner, created_at=snapshot.created_at)


class ServiceState:
    """Settings, Durable state, the SQLite mirror, the clock and id source, the redactor."""

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

    async def _durable_snapshot(self, task_id: str) -> tuple[TaskSnapshot | None, bool]:
        """Durable state's view of the task, and whether Durable could be asked at all."""
        try:
            return await self.orchestrations.snapshot(task_id), True
        except Exception as error:
            logger.warning("Durable state for task %s unavailable: %s", task_id, self.redact(str(error)))
            return None, False
