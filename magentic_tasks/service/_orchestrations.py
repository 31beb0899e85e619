"""What the service needs from Durable Functions (`durable.DurableOrchestrations` provides it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from ..schemas import MessageView, PlanInput, TaskInput, TaskSnapshot

# How a task's orchestration stands: still `running` (a termination may be on its way), `completed`
# (it ended by itself and announced its outcome), `terminated` (cancelled, terminated or crashed: it
# announced nothing), or `missing` (no such task, or its history was purged).
Ending = Literal["running", "completed", "terminated", "missing"]


class Orchestrations(Protocol):
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

    async def submit_plan_input(self, task_id: str, decision: PlanInput) -> None:
        """Hand a reviewer's decision to the task waiting for it."""
        ...

    async def terminate(self, task_id: str, reason: str) -> None:
        """End the task's orchestration (its running activity notices and stops the team)."""
        ...

    async def ending(self, task_id: str) -> tuple[Ending, TaskInput | None]:
        """How the task's orchestration stands, and its input (None when `missing`)."""
        ...

    async def announce(self, task_id: str) -> bool:
        """Start, once, the announcement of a task whose orchestration does not announce its outcome
        itself (it was terminated); whether this call started it."""
        ...

    async def purge(self, task_id: str, *, stop_deliveries: bool = True) -> bool:
        """Remove the task's Durable history and its helpers' (callback delivery); nothing to do when
        there is none. A delivery still running is stopped first when `stop_deliveries`, else nothing
        is removed and the answer is False. Raises when a store refuses: never half of it removed."""
        ...

    async def finished_ids(
        self, created_from: datetime | None = None, *, created_to: datetime | None = None
    ) -> tuple[list[str], bool]:
        """Ids of the tasks created in the range that finished; and whether the whole range was read."""
        ...
