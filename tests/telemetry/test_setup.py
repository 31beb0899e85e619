"""Turning telemetry on: only with a connection string, once, with the app's processors ahead of
Azure Monitor's exporters; and task ids on log records composed with the redacting factory."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from magentic_tasks.redaction import REDACTED, install_log_redaction
from magentic_tasks.telemetry import TASK_ID_ATTRIBUTE, install_task_id_logging, task_scope

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"


def run_python(code: str, base: Mapping[str, str] = os.environ, **env: str) -> str:
    environment = {k: v for k, v in base.items() if not k.startswith(("APPLICATIONINSIGHTS_", "PYTHON_"))}
    environment |= {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **env}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_without_a_connection_string_importing_the_app_loads_no_sdk_and_installs_no_provider() -> None:
    probe = (
        "import sys, json, function_app; from opentelemetry import trace; "
        "print(json.dumps([sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'azure.monitor'))), "
        "type(trace.get_tracer_provider()).__name__]))"
    )
    assert json.loads(run_python(probe)) == [[], "ProxyTracerProvider"]


CONFIGURE = """
import json, os, function_app
from opentelemetry import metrics, trace
from magentic_tasks.telemetry import configure_telemetry
provider = trace.get_tracer_provider()
again = configure_telemetry()
processors = [type(p).__name__ for p in provider._active_span_processor._span_processors]
log_handlers = [type(h).__name__ for h in __import__("logging").getLogger().handlers]
print(json.dumps({"provider": type(provider).__name__, "again": again, "same": provider is trace.get_tracer_provider(),
                  "processors": processors, "meter": type(metrics.get_meter_provider()).__name__,
                  "handlers": log_handlers}))
os._exit(0)
"""


def test_with_a_connection_string_azure_monitor_is_configured_once_with_the_task_processor_first() -> None:
    found = json.loads(run_python(CONFIGURE, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION))
    assert found["provider"] == "TracerProvider" and found["meter"] == "MeterProvider"
    assert found["again"] is True and found["same"] is True
    processors = found["processors"]
    # Ahead of the exporter's batch processor, so spans are scrubbed before they are queued.
    assert processors.index("TaskSpanProcessor") < processors.index("BatchSpanProcessor")
    assert found["handlers"].count("LoggingHandler") == 1


def test_when_the_worker_configured_azure_monitor_the_app_does_not_configure_it_again() -> None:
    code = (
        "from azure.monitor.opentelemetry import configure_azure_monitor; configure_azure_monitor(); "  # as the worker
        + CONFIGURE
    )
    found = json.loads(run_python(code, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION,
                                  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY="true"))
    assert found["processors"].count("BatchSpanProcessor") == 1 and "TaskSpanProcessor" in found["processors"]
    assert found["handlers"].count("LoggingHandler") == 1


@pytest.fixture
def factories() -> Iterator[None]:
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(previous)


def test_log_records_carry_the_task_id_and_stay_redacted_when_redaction_is_installed_again(
    factories: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    install_task_id_logging()
    install_task_id_logging()  # idempotent
    monkeypatch.setenv("OPENAI_API_KEY", "canary-late-key-123456")
    install_log_redaction()  # refreshes the secrets in place, through the task-id factory
    logger = logging.getLogger("tests.telemetry")
    with caplog.at_level(logging.INFO), task_scope("task-7"):
        logger.info("calling with %s", "canary-late-key-123456")
    logger.warning("outside any task")
    inside, outside = caplog.records[-2:]
    assert inside.getMessage() == f"calling with {REDACTED}"
    assert inside.__dict__[TASK_ID_ATTRIBUTE] == "task-7" and TASK_ID_ATTRIBUTE not in outside.__dict__
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "stamps_task_id", False) and hasattr(factory, "redacting_filter")


# Records every socket connection the app makes while it loads (the metadata endpoint is refused).
COLD_START = """
import json, os, socket
tried = []
connect = socket.socket.connect
def recording(self, address):
    tried.append(str(address[0]))
    if str(address[0]).startswith("169.254."):
        raise OSError("no instance metadata service here")
    return connect(self, address)
socket.socket.connect = recording
import function_app
from opentelemetry import trace
attributes = trace.get_tracer_provider().resource.attributes
print(json.dumps({"tried": tried, "resource": {key: str(value) for key, value in attributes.items()}}))
os._exit(0)
"""


@pytest.mark.parametrize("on_functions", [True, False], ids=["on Functions", "elsewhere (func start without it)"])
def test_a_cold_start_with_telemetry_asks_no_metadata_endpoint(on_functions: bool) -> None:
    functions = {"FUNCTIONS_WORKER_RUNTIME": "python", "WEBSITE_SITE_NAME": "tasks-app"} if on_functions else {}
    environment = {k: v for k, v in os.environ.items() if k not in ("FUNCTIONS_WORKER_RUNTIME", "WEBSITE_SITE_NAME")}

    found = json.loads(run_python(COLD_START, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION,
                                  base=environment, **functions))

    assert not [address for address in found["tried"] if address.startswith("169.254.")]
    if on_functions:  # the Functions detector names the service after the app
        assert found["resource"]["service.name"] == "tasks-app"
        assert found["resource"]["cloud.platform"] == "azure_functions"
