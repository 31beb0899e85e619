"""The Magentic-One team whose every `run_stream()` ends after one agent turn, resumable after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autogen_agentchat.base import TerminationCondition
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, MessageFactory, StopMessage
from autogen_agentchat.teams import MagenticOneGroupChat
from autogen_agentchat.teams._group_chat._events import GroupChatTermination
from autogen_core import Component
from pydantic import BaseModel

from ._images import pack_images, unpack_images
from ._orchestrator import ResumableOrchestrator

# The stop reason of a `run_stream()` that ended because an agent finished its turn.
ROUND_END = "round complete"


class RoundEndConfig(BaseModel):
    pass


class RoundEnd(TerminationCondition, Component[RoundEndConfig]):
    """Fires on every agent reply. The orchestrator checks it only on agents' replies, right before
    it would ask for the next progress ledger, and resets it when it fires: a clean round boundary."""

    component_config_schema = RoundEndConfig

    def __init__(self) -> None:
        self._terminated = False

    @property
    def terminated(self) -> bool:
        return self._terminated

    async def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> StopMessage | None:
        self._terminated = True
        return StopMessage(content=ROUND_END, source="RoundEnd")

    async def reset(self) -> None:
        self._terminated = False

    def _to_config(self) -> RoundEndConfig:
        return RoundEndConfig()

    @classmethod
    def _from_config(cls, config: RoundEndConfig) -> RoundEnd:
        return cls()


class ResumableMagenticOneGroupChat(MagenticOneGroupChat):
    """`MagenticOneGroupChat` (autogen-agentchat 0.7.5) with `ResumableOrchestrator` as its manager,
    kept as `orchestrator` once the first run has built it; its saved state keeps each image once."""

    orchestrator: ResumableOrchestrator | None = None

    def _create_group_chat_manager_factory(
        self,
        name: str,
        group_topic_type: str,
        output_topic_type: str,
        participant_topic_types: list[str],
        participant_names: list[str],
        participant_descriptions: list[str],
        output_message_queue: asyncio.Queue[BaseAgentEvent | BaseChatMessage | GroupChatTermination],
        termination_condition: TerminationCondition | None,
        max_turns: int | None,
        message_factory: MessageFactory,
    ) -> Callable[[], ResumableOrchestrator]:
        def build() -> ResumableOrchestrator:
            orchestrator = ResumableOrchestrator(
                name, group_topic_type, output_topic_type, participant_topic_types, participant_names,
                participant_descriptions, max_turns, message_factory, self._model_client, self._max_stalls,
                self._final_answer_prompt, output_message_queue, termination_condition, self._emit_team_events,
            )
            orchestrator.review_plan = self.review_plan
            self.orchestrator = orchestrator
            return orchestrator

        return build

    def __init__(self, *args: Any, review_plan: bool = False, **kwargs: Any) -> None:
        self.review_plan = review_plan  # the orchestrator is built lazily, at the first run
        super().__init__(*args, termination_condition=RoundEnd(), **kwargs)

    async def save_state(self) -> Mapping[str, Any]:
        """The team's state with each image saved once (`_images`)."""
        return pack_images(await super().save_state())

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await super().load_state(unpack_images(state))
