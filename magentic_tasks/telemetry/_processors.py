"""What every exported span and log record goes through before its exporter sees it: the task id
stamped on, secrets scrubbed out with the same `Redactor` the logs use.

Registered ahead of the exporter (`configure_azure_monitor(span_processors=..., log_record_processors=...)`
adds them before its batch processors), so `on_end` rewrites a finished span before it is queued for
export. Rewriting a span's name and attributes in `on_end` through its private fields is the way Azure
Monitor's own documentation modifies telemetry; ended spans offer no public setter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from ..redaction import Redactor, secrets_from_environment
from ._context import TASK_ID_ATTRIBUTE, current_task_id

RedactorSource = Callable[[], Redactor]


def installed_log_redactor() -> Redactor:
    """The redactor of the log record factory (`install_log_redaction`): telemetry is scrubbed of
    exactly what the logs are, with the same refreshed secrets; a fresh one if none is installed."""
    redacting = getattr(logging.getLogRecordFactory(), "redacting_filter", None)
    redactor = getattr(redacting, "redactor", None)
    return redactor if isinstance(redactor, Redactor) else Redactor(secrets_from_environment())


def _scrub_value(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return tuple(redact(item) if isinstance(item, str) else item for item in value)
    return value


def scrub_attributes(attributes: Mapping[str, Any] | None, redact: Redactor) -> dict[str, Any]:
    return {key: _scrub_value(value, redact) for key, value in (attributes or {}).items()}


class TaskSpanProcessor(SpanProcessor):
    """Stamps `magentic.task_id` on every span started while a task is handled, and scrubs secrets
    from every span's name, attributes, events (exception messages and stack traces) and status."""

    def __init__(self, redactor: RedactorSource = installed_log_redactor) -> None:
        self._redactor = redactor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        task_id = current_task_id()
        if task_id is not None and not (span.attributes or {}).get(TASK_ID_ATTRIBUTE):
            span.set_attribute(TASK_ID_ATTRIBUTE, task_id)

    def on_end(self, span: ReadableSpan) -> None:
        redact = self._redactor()
        span._name = redact(span.name)
        span._attributes = scrub_attributes(span.attributes, redact)  # type: ignore[assignment]
        span._events = [  # type: ignore[assignment]
            Event(redact(event.name), scrub_attributes(event.attributes, redact), event.timestamp)
            for event in span.events
        ]
        if span.status.description:
            span._status = Status(span.status.status_code, redact(span.status.description))


class TaskLogRecordProcessor(LogRecordProcessor):
    """Log records are scrubbed when they are created (the redacting factory); this scrubs what the
    OpenTelemetry handler adds from elsewhere (`extra` attributes, exception attributes) and stamps
    the task id on records that were created outside the factory."""

    def __init__(self, redactor: RedactorSource = installed_log_redactor) -> None:
        self._redactor = redactor

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        redact = self._redactor()
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = redact(record.body)
        attributes = scrub_attributes(record.attributes, redact)
        task_id = current_task_id()
        if task_id is not None:
            attributes.setdefault(TASK_ID_ATTRIBUTE, task_id)
        record.attributes = attributes

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
