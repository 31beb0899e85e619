"""An attempt's writes to the mirror, batched: a transaction per round or per `flush_seconds`.

Messages and token usage arrive as the team produces them. The writer holds them and writes one
`Batch` when the oldest has waited `flush_seconds` (MIRROR_FLUSH_SECONDS: a follower of
`GET /tasks/{id}/messages` sees every message within about that long), at once when the run
reaches a round boundary (the batch then carries the round's checkpoint), and when the attempt
ends (the batch then records its end). Batches are written one at a time, in order. One that
cannot be written stays held and goes with the next (the store's writes are idempotent), so a
short mirror outage loses nothing while the attempt lives; a crash loses at most the last
`flush_seconds` of messages and usage (a resumed run starts from its checkpoint, which is whole).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..schemas import MessageView
from ..store import AttemptEnd, Batch, Checkpoint, TaskStore, best_effort
from ._metering import UsageMeter
from ._progress import ProgressTracker

logger = logging.getLogger(__name__)


class TranscriptWriter:
    """One attempt's writes to the mirror, batched; its transcript goes on from `tracker.messages`."""

    def __init__(
        self, store: TaskStore, task_id: str, tracker: ProgressTracker, meter: UsageMeter, flush_seconds: float
    ) -> None:
        self._store = store
        self._task_id = task_id
        self._tracker = tracker
        self._meter = meter
        self._flush_seconds = flush_seconds
        self._held: list[MessageView] = []
        self._first = tracker.messages  # the transcript position of `_held[0]`
        self._usage_changed = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Future[bool]] = set()
        self._writing: asyncio.Future[int | None] | None = None  # the latest batch's write
        self._closed = False
        self.batches = 0  # written so far

    def add(self, views: Sequence[MessageView]) -> None:
        """Messages the team produced, in order."""
        self._tracker.add(views)
        self._held.extend(views)
        self._soon()

    def usage_changed(self) -> None:
        """A model call completed: its tokens go with the next batch (within `flush_seconds`)."""
        self._usage_changed = True
        self._soon()

    async def flush(self, checkpoint: Checkpoint | None = None, end: AttemptEnd | None = None) -> bool:
        """Write what is held, with `checkpoint` and `end`, in one transaction; whether it was written
        (True when there was nothing to write)."""
        async with self._lock:
            self._cancel_timer()
            if self._writing is not None and not self._writing.done():
                # A flush cancelled mid-write leaves its thread writing: let it land first, or it
                # could overwrite a later batch's usage and progress with older ones.
                await asyncio.wait([self._writing])
            if self._closed:
                return False
            messages = list(self._held)
            if not messages and not self._usage_changed and checkpoint is None and end is None:
                return True
            self._usage_changed = False
            batch = Batch(
                task_id=self._task_id, attempt=self._tracker.attempt, first_seq=self._first, messages=messages,
                progress=self._tracker.progress(self._meter.total), usage=dict(self._meter.by_agent),
                checkpoint=checkpoint, end=end,
            )
            self._writing = asyncio.ensure_future(best_effort(self._store.write_batch, batch))
            written = await asyncio.shield(self._writing) is not None
            if written:
                del self._held[: len(messages)]
                self._first += len(messages)
                self.batches += 1
            else:  # held for the next batch
                self._usage_changed = True
                self._soon()
            return written

    async def close(self, end: AttemptEnd | None = None) -> bool:
        """The slice's last batch, with the attempt's `end` when the attempt ends here; nothing is
        written after it. Whether it was written."""
        written = await self.flush(end=end)
        self._closed = True
        self._cancel_timer()
        if self._background:  # they find the writer closed; their errors are logged as they end
            await asyncio.wait(list(self._background))
        return written

    def _soon(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._flush_in_background)

    def _flush_in_background(self) -> None:
        self._timer = None
        flushing = asyncio.ensure_future(self.flush())
        self._background.add(flushing)
        flushing.add_done_callback(self._flushed_in_background)

    def _flushed_in_background(self, flushing: asyncio.Future[bool]) -> None:
        self._background.discard(flushing)
        if not flushing.cancelled() and (error := flushing.exception()) is not None:
            # Not a StoreError (best_effort logs those): a defect. What was held goes with the next batch.
            logger.error("task %s: a transcript batch failed", self._task_id, exc_info=error)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
