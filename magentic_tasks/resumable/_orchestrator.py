"""The Magentic-One orchestrator, able to continue a run whose state it was loaded with."""

from __future__ import annotations

from autogen_agentchat.messages import StopMessage
from autogen_agentchat.teams._group_chat._events import GroupChatStart, SerializableException
from autogen_agentchat.teams._group_chat._magentic_one._magentic_one_orchestrator import MagenticOneOrchestrator
from autogen_core import MessageContext, rpc


class ResumableOrchestrator(MagenticOneOrchestrator):
    """`handle_start` with no messages and a task already in hand takes the next step of the inner
    loop (a progress ledger), exactly as the stock orchestrator would have after the last agent's
    reply; with messages it is the stock `handle_start` (facts, plan, ledger)."""

    @rpc
    async def handle_start(self, message: GroupChatStart, ctx: MessageContext) -> None:  # type: ignore[override]
        if message.messages or not self._task:
            await MagenticOneOrchestrator.handle_start(self, message, ctx)
            return
        if self._termination_condition is not None and self._termination_condition.terminated:
            await self._signal_termination(StopMessage(content="The group chat has already terminated.",
                                                       source=self._name))
            return
        try:
            await self._orchestrate_step(ctx.cancellation_token)
        except Exception as error:  # as `handle_agent_response` does: the run ends with the error
            await self._signal_termination_with_error(SerializableException.from_exception(error))
            raise
