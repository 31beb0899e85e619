"""A running attempt's progress as its messages stream: rounds, last speaker, messages, tokens.

Written to SQLite with each batch of messages (same transaction, `transcript_writer`), read by
`GET /tasks/{id}` while the task runs. Rounds are counted as the CLI counts them: the
orchestrator's first message is its plan, and each later one ends a progress-ledger round (an
instruction to an agent, or the answer).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..schemas import MessageView, TaskProgress, TokenUsage
from ._team import ORCHESTRATOR_NAME


class ProgressTracker:
    """Counts one attempt's messages and rounds as they stream; `progress` says where it stands."""

    def __init__(self, attempt: int) -> None:
        self.attempt = attempt
        self.messages = 0
        self.orchestrator_messages = 0
        self.last_speaker: str | None = None

    def add(self, views: Sequence[MessageView]) -> None:
        self.messages += len(views)
        for view in views:
            self.orchestrator_messages += view.source == ORCHESTRATOR_NAME
            self.last_speaker = view.source

    def progress(self, spent: TokenUsage) -> TaskProgress:
        """The attempt's progress with `spent`, its tokens so far."""
        return TaskProgress(
            attempt=self.attempt,
            rounds=max(self.orchestrator_messages - 1, 0),
            last_speaker=self.last_speaker,
            messages=self.messages,
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
        )
