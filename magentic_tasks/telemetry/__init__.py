"""OpenTelemetry for the task service: one trace per task, task ids on spans and log records,
metrics, secrets scrubbed; exported to Application Insights when a connection string is set.

Importing this package costs next to nothing (the OpenTelemetry API it uses is loaded by the Durable
SDK already); the SDK and the Azure Monitor distro load only when telemetry is turned on. Nothing
here imports Azure Functions.
"""

from ._context import TASK_ID_ATTRIBUTE, current_task_id, install_task_id_logging, task_scope
from ._metrics import record_cancel_latency, record_cancel_stopped, record_outcome, record_task_final
from ._model_calls import ModelCall, model_call
from ._setup import configure_telemetry
from ._spans import (
    TaskCreation,
    format_trace_parent,
    task_creation,
    task_span,
    trace_parent_for_new_task,
    tracing_enabled,
)

__all__ = [
    "TASK_ID_ATTRIBUTE",
    "ModelCall",
    "TaskCreation",
    "configure_telemetry",
    "current_task_id",
    "format_trace_parent",
    "install_task_id_logging",
    "model_call",
    "record_cancel_latency",
    "record_cancel_stopped",
    "record_outcome",
    "record_task_final",
    "task_creation",
    "task_scope",
    "task_span",
    "trace_parent_for_new_task",
    "tracing_enabled",
]
