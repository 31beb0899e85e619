"""Scrubbing secrets out of text before it reaches a response, a log line or the database.

Two layers: the secret values this process holds (its settings' keys) are replaced wherever they
appear; and credentials it does not know are recognised by the shapes real ones have, never by a
mere substring. A shape needs a word boundary before it and a value that looks generated (long,
letters and digits), so prose and code pass through unchanged: "skeleton", "risk-free",
`exit_code = 1`, `token = tokenizer.encode(text)`.

Decided: bare hex digests (commit ids, SHA-256 of images) are ordinary text and are kept. A hex or
base64 Azure key is redacted when it is a known secret value or introduced by a key-like name
(`api-key: …`, `AccountKey=…`); an unknown key standing alone is indistinguishable from a digest.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"

# A value that looks generated: at least 12 of base64/base62/url-safe characters, with a letter
# and a digit. Possessive, so a code expression (`tokenizer_v2.encode(`) cannot match a prefix of itself.
_OPAQUE = r"(?=[A-Za-z0-9+/=_.~%-]*[0-9])(?=[A-Za-z0-9+/=_.~%-]*[A-Za-z])[A-Za-z0-9+/=_.~%-]{12,}+(?![(\[])"
# Names that introduce a credential, alone or as the last part of a longer name (AZURE_OPENAI_API_KEY,
# x-functions-key, Ocp-Apim-Subscription-Key), never inside a word (`monkey`, `max_tokens`, `exit_code`).
_KEY_NAME = (
    r"(?<![A-Za-z0-9])(?:api[_-]?key|access[_-]?key|account[_-]?key|secret[_-]?key|private[_-]?key"
    r"|subscription[_-]?key|functions[_-]?key|master[_-]?key|client[_-]?secret|secret"
    r"|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|token|password|passwd|authorization)"
)
# An optional quote around a name or value, JSON-escaped too (`\"api-key\": \"…\"` inside a JSON string).
_QUOTE = r"(?:\\?[\"'])?"
# URL query parameters that carry credentials: SAS signatures, function keys, OAuth codes and tokens.
_QUERY_NAME = (
    r"(?:sig|code|key|token|access_token|refresh_token|id_token|client_secret|api[_-]?key|apikey"
    r"|password|x-functions-key|subscription-key)"
)

class _Shape:
    """A credential's shape: the words that must be in the text, and the pattern, compiled the
    first time a text holds one of them (most never come up: a cold start compiles none of them)."""

    __slots__ = ("_compiled", "flags", "source", "triggers")

    def __init__(self, triggers: tuple[str, ...], source: str, flags: int = 0) -> None:
        self.triggers, self.source, self.flags = triggers, source, flags
        self._compiled: re.Pattern[str] | None = None

    def scrub(self, text: str) -> str:
        if self._compiled is None:
            self._compiled = re.compile(self.source, self.flags)
        return self._compiled.sub(_keep_name, text)


def _keep_name(match: re.Match[str]) -> str:
    return (match.group(1) or "") + REDACTED if match.re.groups else REDACTED


# Each pattern runs only on text holding one of its trigger words (lower-cased): most log records
# hold none, and a substring test is far cheaper than a regex scan. Group 1, when present, is kept:
# the name that introduced the secret.
_SHAPES: tuple[_Shape, ...] = (
    # PEM private keys.
    _Shape(("private key-----",),
           r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    # Azure Storage / Service Bus / SQL connection strings: the value up to the next `;`.
    _Shape(("accountkey=", "sharedaccess", "password=", "pwd="),
           r"(\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)=)[^;\s\"'<>]+"),
    # Credentials in URL query strings: keep the parameter name.
    _Shape(("?", "&"), rf"(?i)([?&]{_QUERY_NAME}=)[^&#\s\"'<>]+"),
    # OpenAI-style keys (sk-, sk-proj-, sk-svcacct-, ...), at a word start.
    _Shape(("sk-",), r"sk-(?<![A-Za-z0-9_]sk-)(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"),
    # GitHub tokens, AWS access key ids, JSON Web Tokens.
    _Shape(("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia"),
           r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|AKIA[0-9A-Z]{16})\b"),
    _Shape(("eyj",), r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # `Bearer <token>` anywhere (headers, curl lines, exception texts).
    _Shape(("bearer",), rf"(?i)(\bbearer\s+){_OPAQUE}"),
    # `api-key: …`, `"api_key": "…"`, `x-functions-key=…`, `Authorization: Basic …`.
    _Shape(("key", "secret", "token", "passw", "authorization"),
           rf"(?i)({_KEY_NAME}{_QUOTE}\s*[:=]\s*{_QUOTE}(?:(?:basic|token|sharedkey)\s+)?){_OPAQUE}"),
)


class Redactor:
    """Replaces known secret values, and credentials in the shapes real ones have, with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        lowered = text.lower()
        for shape in _SHAPES:
            if any(trigger in lowered for trigger in shape.triggers):
                text = shape.scrub(text)
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
SECRET_SETTING_NAMES = (
    "AZURE_OPENAI_API_KEY", "AZURE_OPEN_AI_KEY", "OPENAI_API_KEY", "OPEN_AI_API_KEY", "ServiceBusConnection",
    "WEBHOOK_SECRET",
)


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
