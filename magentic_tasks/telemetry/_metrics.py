"""Metrics: tasks by final status, run duration, cancel latency, and model calls (tokens, duration)
with the OpenTelemetry GenAI names. Instruments are looked up on the current global meter provider
(no-op until one is installed)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from ..schemas import RunOutcome
from ..stop_codes import stop_code
from ._spans import INSTRUMENTATION

if TYPE_CHECKING:  # the metrics API (about 7 ms to import) loads on the first measurement
    from opentelemetry import metrics

logger = logging.getLogger(__name__)

TASKS = "magentic.tasks"
RUN_DURATION = "magentic.task.run.duration"
CANCEL_LATENCY = "magentic.task.cancel.latency"
TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"


@dataclass(frozen=True)
class _Instruments:
    tasks: metrics.Counter
    run_duration: metrics.Histogram
    cancel_latency: metrics.Histogram
    token_usage: metrics.Histogram
    operation_duration: metrics.Histogram


@lru_cache(maxsize=4)
def _instruments_of(provider: metrics.MeterProvider) -> _Instruments:
    meter = provider.get_meter(INSTRUMENTATION)
    return _Instruments(
        tasks=meter.create_counter(TASKS, unit="{task}", description="Tasks that reached a final status"),
        run_duration=meter.create_histogram(RUN_DURATION, unit="s", description="Duration of one run of the team"),
        cancel_latency=meter.create_histogram(
            CANCEL_LATENCY, unit="s", description="From Durable's record of the cancel to the stopped run's record"
        ),
        token_usage=meter.create_histogram(TOKEN_USAGE, unit="{token}", description="Tokens of one model call"),
        operation_duration=meter.create_histogram(
            OPERATION_DURATION, unit="s", description="Duration of one model call"
        ),
    )


def instruments() -> _Instruments:
    from opentelemetry.metrics import get_meter_provider

    return _instruments_of(get_meter_provider())


def record_task_final(status: str, model: str, stop_reason: str | None, execution_time: float) -> None:
    """One task reached `status`; `execution_time` (when its last run measured one) is that run's duration.
    The stop reason is recorded as its fixed code (a completed run's reason is the model's words)."""
    attributes = {"magentic.status": status, "gen_ai.request.model": model,
                  "magentic.stop_code": stop_code(status, stop_reason)}
    found = instruments()
    found.tasks.add(1, attributes)
    if execution_time > 0:
        found.run_duration.record(execution_time, attributes)


def record_cancel_latency(cancelled_at: datetime | None, stopped_at: datetime) -> None:
    """A cancelled run stopped at `stopped_at`; Durable recorded the cancel (terminate) at `cancelled_at`."""
    if cancelled_at is not None:
        instruments().cancel_latency.record(max((stopped_at - cancelled_at).total_seconds(), 0.0))


def record_outcome(model: str, outcome: RunOutcome, kept: RunOutcome | None) -> None:
    """A run's final outcome was written; `kept` is what the mirror holds after the write (None when it
    could not be read). Counted once: only when the outcome kept is this one (a re-delivered or
    concurrent copy of the activity that lost the race is not counted again). The current span (the
    activity's) gets the outcome's status, stop reason and, for a failure, its error."""
    span = trace.get_current_span()
    span.set_attribute("magentic.status", outcome.status)
    code = stop_code(outcome.status, outcome.stop_reason)
    span.set_attribute("magentic.stop_code", code)
    if outcome.status == "failed":
        span.set_attribute("magentic.error", outcome.error or "")
        span.set_status(Status(StatusCode.ERROR, code))
    if kept is not None and kept.finished_at != outcome.finished_at:
        return
    record_task_final(outcome.status, model, outcome.stop_reason, outcome.execution_time)


async def record_cancel_stopped(read_status: Callable[[], Awaitable[object]], stopped_at: datetime) -> None:
    """A cancelled run stopped at `stopped_at`: record the latency from when Durable recorded the cancel
    (the terminated instance's `last_updated_time`, read once more with `read_status`; whole seconds
    on the Azure Storage backend) to then. Never raises."""
    try:
        status = await read_status()
    except Exception as error:
        logger.debug("cancel latency not recorded: %s", type(error).__name__)
        return
    cancelled_at = getattr(status, "last_updated_time", None)
    if isinstance(cancelled_at, datetime):
        if cancelled_at.tzinfo is None:
            cancelled_at = cancelled_at.replace(tzinfo=UTC)
        record_cancel_latency(cancelled_at, stopped_at)
