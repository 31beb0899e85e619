"""Where an attempt's run puts what it produces: the transcript writer, and a checkpoint per round."""

from __future__ import annotations

import asyncio
import logging

from ..clock import utc_now
from ..schemas import MessageView, TokenUsage
from ..store import Checkpoint
from ._metering import AttemptMeter
from ._start import Start
from ._transcript_writer import TranscriptWriter
from ._types import RoundBoundary

logger = logging.getLogger(__name__)


class AttemptRecorder:
    """Where an attempt's run puts what it produces: its messages go to the transcript writer, and
    each clean round boundary becomes a checkpoint, in one transaction with the round's messages
    and usage. Without a writer (the mirror could not begin the attempt) both are dropped."""

    def __init__(
        self, task_id: str, start: Start, holder: str, meter: AttemptMeter, writer: TranscriptWriter | None
    ) -> None:
        self.task_id, self.start, self.holder, self.meter, self.writer = task_id, start, holder, meter, writer

    async def messages(self, views: list[MessageView]) -> None:
        if self.writer is not None:
            self.writer.add(views)

    async def checkpoint(self, boundary: RoundBoundary) -> asyncio.Future[bool]:
        """Hand the boundary's checkpoint to the writer: a future of whether it was saved, which the
        run need not wait for. A checkpoint never fails the run: it only loses the chance to resume
        here (the round's messages go with the next batch)."""
        writer, attempt = self.writer, self.start.attempt
        assert attempt is not None and writer is not None
        checkpoint = Checkpoint(
            task_id=self.task_id, attempt=attempt, round=boundary.rounds, messages=boundary.messages,
            state=dict(boundary.state), usage_by_agent=_plus(self.start.spent_before, self.meter.by_agent),
            elapsed=boundary.elapsed, deadline=self.start.deadline, held_by=self.holder, saved_at=utc_now(),
        )
        landing = await writer.hand(checkpoint=checkpoint)
        landing.add_done_callback(lambda done: self._unsaved(done, boundary.rounds))
        return landing

    def _unsaved(self, landing: asyncio.Future[bool], round_: int) -> None:
        if not landing.cancelled() and not landing.result():
            logger.warning("task %s: round %d could not be checkpointed", self.task_id, round_)


def _plus(a: dict[str, TokenUsage], b: dict[str, TokenUsage]) -> dict[str, TokenUsage]:
    return {agent: a.get(agent, TokenUsage()) + b.get(agent, TokenUsage()) for agent in {*a, *b}}
