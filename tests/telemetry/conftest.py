"""The SDK's in-memory exporters as the process's global providers, with the app's own processors
in front of them as `configure_azure_monitor` puts them in front of its exporters; the log record
factories installed as at the worker's startup. Everything is put back after each test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from magentic_tasks.redaction import install_log_redaction
from magentic_tasks.telemetry import install_task_id_logging
from magentic_tasks.telemetry._processors import TaskLogRecordProcessor, TaskSpanProcessor
from tests.e2e.conftest import _warm_imports, start_app  # noqa: F401  (fixtures)


@dataclass
class Exported:
    spans_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    logs_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def metric_points(self, name: str) -> list[Any]:
        """Every data point of metric `name` collected so far (cumulative)."""
        data = self.metric_reader.get_metrics_data()
        return [
            point
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def logs(self) -> list[Any]:
        return [data.log_record for data in self.logs_exporter.get_finished_logs()]

    @staticmethod
    def refresh_secrets() -> None:
        """Install log redaction again, as the worker would with the secrets the test has since set."""
        install_log_redaction()


def _set_globals(tracer_provider: Any, meter_provider: Any) -> None:
    """What opentelemetry-test-utils' reset helpers do: the API sets each global provider once."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = tracer_provider
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = meter_provider


@pytest.fixture
def exported() -> Iterator[Exported]:
    previous_factory = logging.getLogRecordFactory()
    previous = (trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(TaskSpanProcessor())
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(TaskLogRecordProcessor())
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=logger_provider)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    # As function_app does at import, with the secrets the test put in the environment first.
    logging.setLogRecordFactory(logging.LogRecord)
    install_log_redaction()
    install_task_id_logging()
    _set_globals(tracer_provider, meter_provider)
    root.addHandler(handler)
    try:
        yield Exported(spans, reader, logs)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        _set_globals(*previous)
        logging.setLogRecordFactory(previous_factory)
        tracer_provider.shutdown()
        meter_provider.shutdown()
        logger_provider.shutdown()
        assert metrics.get_meter_provider() is not meter_provider
