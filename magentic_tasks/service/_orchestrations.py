"""What the service needs from Durable Functions (`durable.DurableOrchestrations` provides it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..schemas import MessageView, PlanInput, TaskInput, TaskSnapshot


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
