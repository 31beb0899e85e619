"""The Magentic-One orchestrator, able to continue a run whose state it was loaded with, and to
give a last answer for a run that was stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autogen_agentchat.messages import StopMessage
from autogen_agentchat.teams._group_chat._events import GroupChatStart, SerializableException
from autogen_agentchat.teams._group_chat._magentic_one._magentic_one_orchestrator import MagenticOneOrchestrator
from autogen_core import CancellationToken, MessageContext, rpc
from autogen_core.models import ChatCompletionClient, UserMessage

# The stop reason of a `run_stream()` that ended with facts and plan made, for a reviewer to see first.
PLAN_READY = "plan ready for review"


class ResumableOrchestrator(MagenticOneOrchestrator):
    """`handle_start` with no messages and a task already in hand takes the next step of the inner
    loop (a progress ledger), exactly as the stock orchestrator would have after the last agent's
    reply; with messages it is the stock `handle_start` (facts, plan, ledger).

    With `review_plan`, the first entry into the outer loop (facts and plan made, nothing said to
    the team yet) ends the run instead (`PLAN_READY`); loaded in a team without it, `handle_start`
    then enters the outer loop with the plan as it stands in the state (approved, or revised)."""

    review_plan = False

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
            if not self._message_thread and self._n_rounds == 0:  # paused for review before the outer loop
                await self._reenter_outer_loop(ctx.cancellation_token)
            else:
                await self._orchestrate_step(ctx.cancellation_token)
        except Exception as error:  # as `handle_agent_response` does: the run ends with the error
            await self._signal_termination_with_error(SerializableException.from_exception(error))
            raise

    async def _reenter_outer_loop(self, cancellation_token: CancellationToken) -> None:
        if self.review_plan and self._n_rounds == 0:
            await self._signal_termination(StopMessage(content=PLAN_READY, source=self._name))
            return
        await super()._reenter_outer_loop(cancellation_token)

    async def last_answer(
        self, client: ChatCompletionClient, extra_create_args: Mapping[str, Any], cancellation_token: CancellationToken
    ) -> str | None:
        """The final-answer prompt over the thread so far, asked once through `client`, outside the
        group chat (the run has stopped: nothing is published). What autogen's
        `_prepare_final_answer` asks at the turn limit; None before the team has said anything."""
        if not self._task or not self._message_thread:
            return None
        context = self._thread_to_context()
        context.append(UserMessage(content=self._get_final_answer_prompt(self._task), source=self._name))
        response = await client.create(
            self._get_compatible_context(context), extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        return response.content if isinstance(response.content, str) else None
