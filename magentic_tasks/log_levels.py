"""autogen's prompt-carrying loggers stay quiet at INFO unless `LOG_PROMPTS` is on.

At INFO autogen logs every model call with its full prompt and answer (`LLMCallEvent` and
`LLMStreamEndEvent` on `autogen_core.events`), every message the runtime delivers with its content
(`autogen_core`: "Sending message of type ..."; `autogen_core.events`: `MessageEvent`), and every
tool call with its arguments (`ToolCallEvent` on `autogen_core.events`). Each record then costs a
redaction scan, and puts prompts and transcripts in the logs. These loggers are set to WARNING
(their warnings and errors still reach the logs); with `LOG_PROMPTS=true` they inherit the root
level again. No autogen module is imported here.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from .settings import Settings, get_settings

#: Loggers that carry prompts, model answers, transcript messages or tool arguments at INFO/DEBUG.
PROMPT_LOGGERS: tuple[str, ...] = (
    "autogen_core",  # the runtime: "Sending message of type ... : <content>"
    "autogen_core.events",  # LLMCallEvent / LLMStreamEndEvent (full messages), MessageEvent, ToolCallEvent
    "autogen_agentchat",  # agentchat's trace logger (the orchestrator's ledger prompts at DEBUG)
    "autogen_agentchat.events",  # agentchat's events (tool calls and results at DEBUG)
)


def apply_log_levels(log_prompts: bool) -> None:
    """WARNING on `PROMPT_LOGGERS`, or back to inheriting the root level when `log_prompts`."""
    level = logging.NOTSET if log_prompts else logging.WARNING
    for name in PROMPT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level != level:
            logger.setLevel(level)


def apply_configured_log_levels(settings: Settings | None = None) -> None:
    """`apply_log_levels` from the settings; quiet when they cannot be read (never raises)."""
    if settings is None:
        try:
            settings = get_settings()
        except ValidationError:
            apply_log_levels(False)
            return
    apply_log_levels(settings.log_prompts)
