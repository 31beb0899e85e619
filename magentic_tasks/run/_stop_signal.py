"""A run's stop signal: a reason from outside the run to stop it now.

The reason is "its orchestration was terminated" (Durable's terminate API does not stop a running
activity): `POST /tasks/{id}/cancel` terminates the orchestration too, so both end the same way, as
`cancelled`. The domain knows nothing
of where the reason comes from: the activity passes in an async `check` that answers it, and the
run polls that check every `interval` seconds while the team works, and once more before it
records a finished result, so that whatever ended the task first decides its final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Answers why the run must stop, or None to go on.
StopCheck = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class StopSignal:
    check: StopCheck
    interval: float

    async def reason(self) -> str | None:
        """Ask once; a check that fails (e.g. Durable unreachable) counts as no reason to stop."""
        try:
            return await self.check()
        except Exception as error:  # an unreachable signal never stops a run
            logger.warning("stop signal unavailable: %s", error)
            return None

    async def wait(self) -> str:
        """Poll until the check gives a reason; that reason."""
        while True:
            await asyncio.sleep(self.interval)
            reason = await self.reason()
            if reason:
                return reason
