"""Scrubbing secrets out of text before it reaches a response, a log line or the database."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"

# Credentials that look like credentials even when this process does not know them.
_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{12,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/]{12,}=*"),
    re.compile(r"(?i)((?:api[-_ ]?key|authorization|x-functions-key|code)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]{6,}"),
)


class Redactor:
    """Replaces known secret values, and things shaped like keys, with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs each record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.redactor(message)
        if scrubbed != message or record.exc_info:
            if record.exc_info:
                formatter = logging.Formatter()
                scrubbed = self.redactor(scrubbed + "\n" + formatter.formatException(record.exc_info))
                record.exc_info = None
                record.exc_text = None
            record.msg, record.args = scrubbed, None
        return True


# The settings that hold secrets, under every name they may be set by (see settings.py).
SECRET_SETTING_NAMES = ("AZURE_OPENAI_API_KEY", "AZURE_OPEN_AI_KEY", "OPENAI_API_KEY", "OPEN_AI_API_KEY")


def secrets_from_environment() -> list[str]:
    return [value for name in SECRET_SETTING_NAMES if (value := os.environ.get(name, "").strip())]


def install_log_redaction(secrets: Callable[[], Iterable[str]] = secrets_from_environment) -> None:
    """Scrub every log record in this process, whichever library logs it and whichever handler
    (the Functions worker's included) writes it: records are redacted as they are created.

    Installing again keeps one factory and refreshes the secrets it knows."""
    current = logging.getLogRecordFactory()
    installed: RedactingFilter | None = getattr(current, "redacting_filter", None)
    if installed is not None:
        installed.redactor = Redactor(secrets())
        return
    scrub = RedactingFilter(Redactor(secrets()))

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        scrub.filter(record)
        return record

    factory.redacting_filter = scrub  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
