"""One live run per task: the lease a run holds while it works (`store/_lease.py`).

Durable delivers an activity at least once: a second copy of the run activity can start while the
first still runs (a worker that looked lost, a redelivered message), and both would run the whole
team and pay for it twice. So the run that goes on holds the task's lease: taken with the task's
first attempt (in the transaction that makes its file) or before any later one, renewed every
sixth of `RUN_LEASE_SECONDS` (60 s) from the background, let go when the slice ends however it ends (by the write
that records its outcome or its pause, else by a write of its own). A lease not
renewed for `RUN_LEASE_SECONDS` is a dead run's, and the next copy may take it. So a run that
stalls (its event loop blocked) that long can lose it; it then goes on, logging a warning. Its tokens are
on its own attempt's row: the result, recorded by whichever copy finishes first, counts every
attempt's tokens as stored then (a copy still running after that spends what the result misses).

A copy that finds the lease held waits, reading the task's own file every second, until the
holder lets go or its lease expires; then it looks again (`_attempt`): the task has an outcome (it
returns it, as the holder did), the holder paused at a checkpoint (it returns that point, as the
holder did), or it takes the lease and goes on from the latest checkpoint. It never waits past
the slice's time (or one lease term, if longer): then it raises `TaskRunError`, and the
orchestrator retries it later. Without the mirror there is no lease: the run goes on, as it always could.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..clock import utc_now
from ..errors import TaskRunError
from ..schemas import ResumePoint, RunPaused, TaskInput
from ..store import TaskStore, best_effort

logger = logging.getLogger(__name__)

class RunLease:
    """This run's claim on its task."""

    def __init__(self, store: TaskStore, task_id: str, holder: str, seconds: float) -> None:
        self.store, self.task_id, self.holder = store, task_id, holder
        self.seconds = seconds  # RUN_LEASE_SECONDS: a lease not renewed for this long is a dead run's
        self.renew_seconds = seconds / 6
        self.poll_seconds = min(1.0, seconds / 20)
        self._renewing: asyncio.Task[None] | None = None
        self.waited = False  # another copy held the lease when this one arrived

    def terms(self) -> tuple[str, float]:
        """(holder, until) for a lease taken now."""
        return self.holder, time.time() + self.seconds

    async def take(self) -> bool:
        """Whether this run holds the lease now (True without the mirror: nothing to hold)."""
        holder, until = self.terms()
        taken = await best_effort(self.store.take_lease, self.task_id, holder, time.time(), until)
        return taken is not False

    async def take_or_wait(self, wait_seconds: float) -> None:
        """Hold the lease, after waiting for a live holder to let go or die (at least one lease term,
        so a dead holder's lease is always outwaited)."""
        give_up = time.monotonic() + max(wait_seconds, self.seconds)
        while not await self.take():
            self.waited = True
            logger.info("task %s: another copy of this run is live; waiting for it", self.task_id)
            while await best_effort(self.store.live_holder, self.task_id, time.time()) not in (None, self.holder):
                if time.monotonic() >= give_up:
                    raise TaskRunError("another copy of this run is still running; trying again later")
                await asyncio.sleep(self.poll_seconds)

    def keep(self) -> None:
        """Renew the lease from the background until `let_go`."""
        if self._renewing is None:
            self._renewing = asyncio.ensure_future(self._renew())

    async def let_go(self, *, written: bool = False) -> None:
        """Stop renewing, and let the lease go; `written`: the slice's last write did (its outcome
        or its pause, `TaskStore.save_outcome` and `release_checkpoint`), so no write is needed."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        if not written:
            await best_effort(self.store.release_lease, self.task_id, self.holder)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            kept = await best_effort(self.store.renew_lease, self.task_id, self.holder, time.time() + self.seconds)
            if kept is False:  # it expired (this run stalled past `seconds`) and another copy took it
                logger.warning("task %s: this run's lease was taken by another copy at %s", self.task_id,
                               utc_now().isoformat())
                return


async def paused_by_holder(task: TaskInput, store: TaskStore) -> RunPaused | None:
    """Where the copy this one waited for paused (its latest checkpoint, released, of an attempt
    still open), unless that is the point this copy was handed; None when it did not pause. The
    point is the one the holder returned; its plan review, if it waits for one, is not (the next
    slice, finding no decision, shows it again)."""
    latest = await best_effort(store.latest_checkpoint, task.task_id)
    if latest is None or latest.held_by is not None:
        return None
    handed = task.resume
    if handed is not None and (handed.attempt, handed.round) == (latest.attempt, latest.round):
        return None
    slices = handed.slices + 1 if handed is not None else 2
    return RunPaused(resume=ResumePoint(attempt=latest.attempt, round=latest.round, slices=slices))
