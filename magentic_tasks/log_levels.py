"""autogen's prompt-carrying loggers stay quiet at INFO unless `LOG_PROMPTS` is on.

At INFO autogen logs every model call with its full prompt and answer (`LLMCallEvent` and
`LLMStreamEndEvent` on `autogen_core.events`), every message the runtime delivers with its content
(`autogen_core`: "Sending message of type ..."; `autogen_core.events`: `MessageEvent`), and every
tool call with its arguments (`ToolCallEvent` on `autogen_core.events`). Each record then costs a
redaction scan, and puts prompts and transcripts in the logs. These loggers are set to WARNING
(their warnings and errors still reach the logs); with `LOG_PROMPTS=true` they inherit the root
level again. No autogen module is imported here.

One record is quieted outright: autogen_core's runtime logs "Error processing publish message for
<agent>" at ERROR, with the exception, for every message handler that raised. When a run is
cancelled (its team's CancellationToken: `POST /tasks/{id}/cancel`, a terminate, a deadline) the
handler that was waiting on the model raises `asyncio.CancelledError`, so every cancelled run would
log an ERROR that is no error; the runner logs the stop itself. `CancelledPublishFilter` drops
exactly those records; the same message with any other exception still reaches the logs.
"""

from __future__ import annotations

import asyncio
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


#: The logger autogen_core's runtime logs a failed message handler on.
RUNTIME_LOGGER = "autogen_core"
PUBLISH_ERROR = "Error processing publish message for "
# How a CancelledError's traceback ends, as `logging.Formatter.formatException` writes it.
_CANCELLED = f"{asyncio.CancelledError.__module__}.{asyncio.CancelledError.__qualname__}"


class CancelledPublishFilter(logging.Filter):
    """Drops autogen_core's "Error processing publish message for ..." records whose exception is
    `asyncio.CancelledError` (a cancelled run), and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_cancelled_publish(record)


def is_cancelled_publish(record: logging.LogRecord) -> bool:
    if record.name != RUNTIME_LOGGER or record.levelno != logging.ERROR:
        return False
    message = record.getMessage()
    if not message.startswith(PUBLISH_ERROR):
        return False
    if record.exc_info is not None and record.exc_info[0] is not None:
        return issubclass(record.exc_info[0], asyncio.CancelledError)
    # The redacting record factory (magentic_tasks.redaction) has already written the traceback into
    # the message: its last line names the exception.
    last = message.rstrip().rpartition("\n")[2]
    return last == _CANCELLED or last.startswith(_CANCELLED + ":")


def quiet_cancelled_publish() -> None:
    """Install `CancelledPublishFilter` on autogen_core's runtime logger, once."""
    logger = logging.getLogger(RUNTIME_LOGGER)
    if not any(isinstance(installed, CancelledPublishFilter) for installed in logger.filters):
        logger.addFilter(CancelledPublishFilter())


def apply_log_levels(log_prompts: bool) -> None:
    """WARNING on `PROMPT_LOGGERS`, or back to inheriting the root level when `log_prompts`; and,
    either way, no ERROR from autogen's runtime for a cancelled run (`quiet_cancelled_publish`)."""
    level = logging.NOTSET if log_prompts else logging.WARNING
    for name in PROMPT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level != level:
            logger.setLevel(level)
    quiet_cancelled_publish()


def apply_configured_log_levels(settings: Settings | None = None) -> None:
    """`apply_log_levels` from the settings; quiet when they cannot be read (never raises)."""
    if settings is None:
        try:
            settings = get_settings()
        except ValidationError:
            apply_log_levels(False)
            return
    apply_log_levels(settings.log_prompts)
