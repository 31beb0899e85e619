"""Turning telemetry on: Azure Monitor through OpenTelemetry, once per worker process, and only when
`APPLICATIONINSIGHTS_CONNECTION_STRING` is set.

The app configures the distro itself rather than through the Python worker's
`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` switch: the worker calls `configure_azure_monitor` with no
processors, so the redacting span processor could only be appended after the exporter's batch
processor and would race it. Leave that switch unset; set `PYTHON_ENABLE_OPENTELEMETRY=true` instead,
which only makes the worker attach the host's trace context to each invocation (so the app's spans
nest under the host's request telemetry). If the worker configured the distro anyway, it is not
configured twice: the task processor is added to the worker's provider, with a warning.

The resource is described by the Azure Functions detector only (service name = the app, region,
resource id, from the platform's settings). The distro's default detectors are App Service's (which
yields nothing on Functions) and the Azure VM's, which asks the instance metadata endpoint
(169.254.169.254, up to 0.2 s) wherever `FUNCTIONS_WORKER_RUNTIME` is unset: a cold start would pay
for a network call it does not need. `OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`, when set, still decides.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ._context import install_task_id_logging

logger = logging.getLogger(__name__)

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
WORKER_SWITCH = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
RESOURCE_DETECTORS = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
FUNCTIONS_DETECTORS = "azure_functions"
# The distro's web-framework and database instrumentations have nothing to instrument here.
_UNUSED_INSTRUMENTATIONS = ("django", "fastapi", "flask", "psycopg2")

_configured = False


def configure_telemetry(environ: Mapping[str, str] = os.environ) -> bool:
    """Stamp task ids on log records; with a connection string, export traces, metrics and logs to
    Application Insights. Returns whether this call (or an earlier one) turned the export on."""
    global _configured
    install_task_id_logging()
    if _configured or not environ.get(CONNECTION_STRING, "").strip():
        return _configured
    _configured = True
    try:
        if environ.get(WORKER_SWITCH, "").strip().lower() in ("1", "true"):
            _join_the_workers()
        else:
            _configure_azure_monitor()
    except Exception as error:  # telemetry must never keep the functions from loading
        logger.warning("telemetry could not be configured: %s: %s", type(error).__name__, error)
    return _configured


def _configure_azure_monitor() -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    from ._processors import TaskLogRecordProcessor, TaskSpanProcessor

    os.environ.setdefault(RESOURCE_DETECTORS, FUNCTIONS_DETECTORS)  # the distro reads it from there
    configure_azure_monitor(
        span_processors=[TaskSpanProcessor()],
        log_record_processors=[TaskLogRecordProcessor()],
        instrumentation_options={name: {"enabled": False} for name in _UNUSED_INSTRUMENTATIONS},
    )


def _join_the_workers() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from ._processors import TaskSpanProcessor

    logger.warning(
        "%s is set: the worker configured Azure Monitor, so the app's span redaction runs after its "
        "exporter's queue; unset it and set PYTHON_ENABLE_OPENTELEMETRY=true instead", WORKER_SWITCH,
    )
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(TaskSpanProcessor())
