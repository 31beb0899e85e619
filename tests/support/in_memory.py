"""In-memory stand-ins for the service's ports, and a peek into the SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from magentic_tasks.schemas import STOPPED, MessageView, PlanInput, RunOutcome, TaskInput, TaskSnapshot
from magentic_tasks.service import Ending
from magentic_tasks.store import TaskStore


class InMemoryOrchestrations:
    """Durable state, as the service sees it through its port."""

    def __init__(self) -> None:
        self.started: dict[str, TaskInput] = {}
        self.snapshots: dict[str, TaskSnapshot] = {}
        self.purged: list[str] = []
        self.transcripts: dict[str, list[MessageView]] = {}  # the run's result in the history
        self.fail_start = False
        self.unreachable = False
        self.history_unreadable = False
        self.plan_inputs: list[tuple[str, PlanInput]] = []
        self.terminated: set[str] = set()
        self.announced: list[str] = []

    async def start(self, task: TaskInput) -> None:
        if self.fail_start:
            raise RuntimeError("host unavailable")
        self.started[task.task_id] = task
        self.snapshots[task.task_id] = TaskSnapshot(
            task_id=task.task_id, status="pending", prompt=task.prompt, use_aoai=task.use_aoai,
            model_name=task.model_name, owner=task.owner, created_at=task.created_at, updated_at=task.created_at,
            team=task.team,
            has_callback=task.callback_url is not None, request_fingerprint=task.request_fingerprint, files=task.files,
        )

    async def snapshot(self, task_id: str) -> TaskSnapshot | None:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        return self.snapshots.get(task_id)

    async def transcript(self, task_id: str) -> list[MessageView] | None:
        if self.unreachable or self.history_unreadable:
            raise ConnectionError("cannot read the history")
        return self.transcripts.get(task_id)

    async def recent(self, created_from: datetime) -> list[TaskSnapshot]:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        return [snap for snap in self.snapshots.values() if snap.created_at >= created_from]

    async def callback_state(self, task_id: str) -> dict[str, object] | None:
        return None

    async def submit_plan_input(self, task_id: str, decision: PlanInput) -> None:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        self.plan_inputs.append((task_id, decision))

    async def terminate(self, task_id: str, reason: str) -> None:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        snap = self.snapshots[task_id]
        if snap.outcome is not None:  # it had finished: the host ignores the terminate (410)
            return
        self.terminated.add(task_id)
        outcome = RunOutcome(status="cancelled", error=reason, stop_reason=STOPPED, finished_at=snap.updated_at)
        self.snapshots[task_id] = snap.model_copy(update={"status": "cancelled", "outcome": outcome})

    async def ending(self, task_id: str) -> tuple[Ending, TaskInput | None]:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        snap = self.snapshots.get(task_id)
        if snap is None:
            return "missing", None
        task = self.started[task_id]
        if task_id in self.terminated:
            return "terminated", task
        return ("running" if snap.outcome is None else "completed"), task

    async def announce(self, task_id: str) -> bool:
        ending, _ = await self.ending(task_id)
        if ending in ("completed", "missing") or task_id in self.announced:
            return False
        self.announced.append(task_id)
        return True

    async def purge(self, task_id: str, *, stop_deliveries: bool = True) -> bool:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        self.purged.append(task_id)
        self.snapshots.pop(task_id, None)
        self.transcripts.pop(task_id, None)
        return True

    async def finished_ids(
        self, created_from: datetime | None = None, *, created_to: datetime | None = None
    ) -> tuple[list[str], bool]:
        if self.unreachable:
            raise ConnectionError("cannot reach the host")
        return [
            snap.task_id for snap in self.snapshots.values()
            if snap.outcome is not None
            and (created_from is None or snap.created_at >= created_from)
            and (created_to is None or snap.created_at <= created_to)
        ], True

    def finish(self, task_id: str, outcome: RunOutcome) -> None:
        """The orchestration completed: its output is the outcome without the transcript, which the
        history holds (as the run activity's result)."""
        snap = self.snapshots[task_id]
        output = outcome.model_copy(update={"messages": []})
        self.snapshots[task_id] = snap.model_copy(update={"status": outcome.status, "outcome": output})
        self.transcripts[task_id] = list(outcome.messages)


def row_count(store: TaskStore) -> int:
    if not store.path.exists():
        return 0
    with sqlite3.connect(store.path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] if "tasks" in tables else 0
