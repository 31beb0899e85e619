"""A graceful last answer: a run stopped by its deadline or token budget still answers.

At its turn limit Magentic-One's orchestrator asks its final-answer prompt over the conversation so
far and the run completes with that answer. A run stopped from outside the group chat (its deadline,
its token budget) gets the same prompt here, asked once, with its own small allowance: at most
`FINAL_ANSWER_SECONDS` (and what is left of the function's own timeout) and
`FINAL_ANSWER_MAX_TOKENS` completion tokens. The call is counted like any other, past the budget if
need be. A cancel never asks it: a cancelled task stops at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, ModelFamily

from ..redaction import Redactor
from ..resumable import ResumableMagenticOneGroupChat
from ._metering import MeteredClient, UsageMeter
from ._team import ORCHESTRATOR_NAME

logger = logging.getLogger(__name__)

# Reasoning models take `max_completion_tokens` and refuse `max_tokens`.
_REASONING_FAMILIES = {ModelFamily.O1, ModelFamily.O3, ModelFamily.O4}


async def last_answer(
    team: object, client: ChatCompletionClient, meter: UsageMeter, *, seconds: float, max_tokens: int,
    redact: Redactor,
) -> TextMessage | None:
    """The orchestrator's final answer over what the team said so far, or None when there is no
    orchestrator with a task yet, no time for it, or the call fails (logged)."""
    orchestrator = team.orchestrator if isinstance(team, ResumableMagenticOneGroupChat) else None
    if orchestrator is None or seconds < 1:
        return None
    metered = MeteredClient(client, ORCHESTRATOR_NAME, meter, enforce_budget=False)
    limit: dict[str, Any] = (
        {"max_completion_tokens": max_tokens} if client.model_info.get("family") in _REASONING_FAMILIES
        else {"max_tokens": max_tokens}
    )
    token = CancellationToken()
    try:
        content = await asyncio.wait_for(orchestrator.last_answer(metered, limit, token), seconds)
    except Exception as error:  # TimeoutError included: the run ends as it would have without it
        token.cancel()
        logger.warning("the last answer could not be had: %s", redact(f"{type(error).__name__}: {error}"))
        return None
    return None if content is None else TextMessage(content=content, source=ORCHESTRATOR_NAME)
