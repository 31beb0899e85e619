"""An attempt's writes to the mirror, batched: a transaction per round or per `flush_seconds`.

Messages and token usage arrive as the team produces them. The writer holds them and hands over
one `Batch` when the oldest has waited `flush_seconds` (MIRROR_FLUSH_SECONDS: a follower of
`GET /tasks/{id}/messages` sees every message within about that long), at once when the run
reaches a round boundary (the batch then carries the round's checkpoint: `hand` gives the run a
future of its landing, and the run goes on while it is written), and when the attempt ends (the
batch then records its end).

A batch is handed over without waiting for the one before it to land: on a file share a write
takes a few hundred milliseconds, and a round boundary that comes while a timed batch is still
taking the file's lock joins that batch's transaction instead of queueing behind it. Each batch
carries how far the attempt had got (`progress_mark`), so the store keeps the newest usage and
progress whatever order batches land in, and it stores a batch only on top of the entries before
it. One that cannot be written, and any handed over after it, go again with the next batch (the
store's writes are idempotent), so a short mirror outage loses nothing while the attempt lives; a
crash loses at most the last `flush_seconds` of messages and usage (a resumed run starts from its
checkpoint, which is whole).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from ..schemas import MessageView
from ..store import AttemptEnd, Batch, Checkpoint, TaskStore, best_effort, progress_mark
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
        self._stored = tracker.messages  # entries of the transcript known to be stored
        self._pending: list[MessageView] = []  # every entry after those, in order
        self._handed = tracker.messages  # entries handed over in a batch so far (stored or not)
        self._usage_changed = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Future[bool]] = set()
        self._writing: set[asyncio.Future[int | None]] = set()  # batches handed over, not landed yet
        self._closed = False
        self._write_seconds = 0.0  # how long the last batch took to land once handed over
        self.batches = 0  # written so far

    def add(self, views: Sequence[MessageView]) -> None:
        """Messages the team produced, in order."""
        self._tracker.add(views)
        self._pending.extend(views)
        self._soon()

    def usage_changed(self) -> None:
        """A model call completed: its tokens go with the next batch (within `flush_seconds`)."""
        self._usage_changed = True
        self._soon()

    async def flush(self, checkpoint: Checkpoint | None = None, end: AttemptEnd | None = None) -> bool:
        """Write what is held, with `checkpoint` and `end`, in one batch; whether it was written
        (True when there was nothing to write)."""
        return await asyncio.shield(await self.hand(checkpoint, end))

    async def hand(self, checkpoint: Checkpoint | None = None, end: AttemptEnd | None = None) -> asyncio.Future[bool]:
        """Hand over what is held, with `checkpoint` and `end`, as one batch, without waiting for its
        write: a future of whether it was written (True at once when there was nothing to write)."""
        async with self._lock:  # only to make the batch
            self._cancel_timer()
            if self._closed:
                return _settled(False)
            messages = self._pending[self._handed - self._stored:]
            if not messages and not self._usage_changed and checkpoint is None and end is None:
                return _settled(True)
            self._usage_changed = False
            usage = dict(self._meter.by_agent)
            mark = progress_mark(self._handed + len(messages), sum(u.prompt_tokens + u.completion_tokens
                                                                    for u in usage.values()))
            batch = Batch(
                task_id=self._task_id, attempt=self._tracker.attempt, first_seq=self._handed, messages=messages,
                progress=self._tracker.progress(self._meter.total), usage=usage, checkpoint=checkpoint, end=end,
                number=mark,
            )
            self._handed += len(messages)
            writing = asyncio.ensure_future(best_effort(self._store.write_batch, batch))
            self._writing.add(writing)
            written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            handed_at = asyncio.get_running_loop().time()
            writing.add_done_callback(lambda done: self._landed(batch, done, written, handed_at))  # awaited or not
        return written

    def next_batch_in(self) -> float | None:
        """Seconds until what is held is handed over; None when nothing is due."""
        if self._timer is None:
            return None
        return max(self._timer.when() - asyncio.get_running_loop().time(), 0.0)

    async def close(self, end: AttemptEnd | None = None) -> bool:
        """The slice's last batch, with the attempt's `end` when the attempt ends here; nothing is
        written after it. Whether it was written, with everything before it."""
        written = await self.flush(end=end)
        if not written and end is not None:  # a batch before it failed meanwhile: everything again
            written = await self.flush(end=end)
        self._closed = True
        self._cancel_timer()
        unfinished: list[asyncio.Future[Any]] = [*self._background, *self._writing]
        if unfinished:  # they find the writer closed; their errors are logged as they end
            await asyncio.wait(unfinished)
        return written and self._stored == self._handed

    def _landed(
        self, batch: Batch, done: asyncio.Future[int | None], written: asyncio.Future[bool], handed_at: float
    ) -> None:
        self._writing.discard(done)
        landed = not done.cancelled() and done.exception() is None and done.result() is not None
        if landed:
            self._write_seconds = asyncio.get_running_loop().time() - handed_at
        if not done.cancelled() and (error := done.exception()) is not None:  # not a StoreError: a defect
            logger.error("task %s: a transcript batch failed", self._task_id, exc_info=error)
        if not written.done():  # (cancelled when a caller that did not shield it was)
            written.set_result(landed)
        if landed:
            end = batch.first_seq + len(batch.messages)
            if batch.messages and end > self._stored:  # stored on top of all before it (or refused)
                del self._pending[: end - self._stored]
                self._stored = end
            self._handed = max(self._handed, self._stored)
            self.batches += 1
        else:  # it, and whatever was handed over after it, go again with the next batch
            self._handed = self._stored
            self._usage_changed = True
            self._soon()

    def _soon(self) -> None:
        if self._timer is None and not self._closed:
            # Handed over early by as long as the last write took, so that it lands about
            # `flush_seconds` after the oldest message (on a share a write takes a good part of a
            # second); never more often than twice per `flush_seconds`.
            delay = max(self._flush_seconds - self._write_seconds, self._flush_seconds / 2)
            self._timer = asyncio.get_running_loop().call_later(delay, self._flush_in_background)

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


def _settled(value: bool) -> asyncio.Future[bool]:
    settled: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    settled.set_result(value)
    return settled
