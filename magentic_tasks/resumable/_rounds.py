"""Running a resumable team round by round, with a chance to save it at every round boundary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
from autogen_agentchat.teams import BaseGroupChat
from autogen_core import CancellationToken

from ._orchestrator import PLAN_READY
from ._team import ROUND_END

ItemSink = Callable[[BaseAgentEvent | BaseChatMessage], Awaitable[None]]
# Given the idle team's saved state after a round (or, when the flag is set, after its plan, for
# review); whether to run another round now.
RoundSink = Callable[[Mapping[str, Any], bool], Awaitable[bool]]


@dataclass
class RoundLoop:
    """One `run_stream()` per round: the first with the task (or none after `load_state`), each read
    to its very end, the runtime idle before the team is saved. The round sink decides whether the
    run goes on; a cancelled token never reaches it (its round is not a clean boundary)."""

    team: BaseGroupChat
    token: CancellationToken

    async def run(
        self, task: str | None, state: Mapping[str, Any] | None, on_item: ItemSink, on_round: RoundSink
    ) -> tuple[bool, str | None]:
        """(finished, stop reason): finished is False when the round sink paused the run, or when the
        plan awaits review (stop reason `PLAN_READY`)."""
        if state is not None:
            await self.team.load_state(state)
            task = None
        while True:
            result: TaskResult | None = None
            async for item in self.team.run_stream(task=task, cancellation_token=self.token):
                if isinstance(item, TaskResult):
                    result = item  # read on: the stream's `finally` waits for the runtime to go idle
                else:
                    await on_item(item)
            task = None
            if result is None or result.stop_reason not in (ROUND_END, PLAN_READY):
                return True, None if result is None else result.stop_reason
            if self.token.is_cancelled():
                raise RuntimeError("the run was cancelled at a round boundary")
            review = result.stop_reason == PLAN_READY
            if not await on_round(await self.team.save_state(), review) or review:
                return False, result.stop_reason
