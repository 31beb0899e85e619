"""Spans: one trace per task, carried in the task's input as a W3C `traceparent`.

The HTTP start opens `create task` under the request's trace (the worker's invocation span when the
worker attaches the host's context, else the caller's `traceparent` header) and stores its own
traceparent in the `TaskInput`; the orchestrator passes the input unchanged (it is replayed, so it
emits nothing itself), and each activity opens its span as a child of that traceparent, linked to
its own invocation. autogen's runtime and agent spans and the model calls nest inside.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._context import TASK_ID_ATTRIBUTE, task_scope

INSTRUMENTATION = "magentic_tasks"
_propagator = TraceContextTextMapPropagator()


def tracer() -> trace.Tracer:
    """The tracer of the current global provider (looked up per use: cheap, and never stale)."""
    return trace.get_tracer_provider().get_tracer(INSTRUMENTATION)


def tracing_enabled() -> bool:
    """True once a real tracer provider is installed (Azure Monitor's, or a test's)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def format_trace_parent(context: SpanContext) -> str | None:
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def parent_context(trace_parent: str | None) -> Context | None:
    """The context a valid W3C `traceparent` names; None for none or a malformed one."""
    if not trace_parent:
        return None
    context = _propagator.extract({"traceparent": trace_parent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def trace_parent_for_new_task(given: str | None = None) -> str | None:
    """The trace a new task joins: `given`, else the current span's (a starter's invocation), else,
    with tracing on, a new trace of its own, so that all of its activities share one trace id."""
    if given:
        return given
    current = format_trace_parent(trace.get_current_span().get_span_context())
    if current is not None or not tracing_enabled():
        return current
    return f"00-{secrets.randbits(128) or 1:032x}-{secrets.randbits(64) or 1:016x}-01"


@dataclass
class TaskCreation:
    """The `create task` span of a starter and the traceparent the new task carries."""

    span: Span
    trace_parent: str | None = field(default=None)

    def created(self, task_id: str | None, status_code: int) -> None:
        if task_id:
            self.span.set_attribute(TASK_ID_ATTRIBUTE, task_id)
        self.span.set_attribute("http.response.status_code", status_code)
        if status_code >= 500:
            self.span.set_status(Status(StatusCode.ERROR))


@contextmanager
def task_creation(traceparent_header: str | None) -> Iterator[TaskCreation]:
    """The `create task` span: under the worker's invocation span when there is one (INTERNAL),
    else under the caller's `traceparent` (SERVER: this is where the request enters the app's trace)."""
    nested = trace.get_current_span().get_span_context().is_valid
    parent = None if nested else parent_context(traceparent_header)
    kind = SpanKind.INTERNAL if nested else SpanKind.SERVER
    with tracer().start_as_current_span("create task", context=parent, kind=kind) as span:
        own = format_trace_parent(span.get_span_context())
        fallback = traceparent_header if parent is not None else None
        yield TaskCreation(span, own or fallback)


@contextmanager
def task_span(name: str, task_id: str, trace_parent: str | None, model: str | None = None) -> Iterator[Span]:
    """An activity's span for one task: a child of the task's traceparent, linked to the invocation
    that runs it; the task is the current one (spans and log records carry its id) inside."""
    invocation = trace.get_current_span().get_span_context()
    parent = parent_context(trace_parent)
    links = [Link(invocation)] if parent is not None and invocation.is_valid else None
    attributes: dict[str, str] = {TASK_ID_ATTRIBUTE: task_id}
    if model:
        attributes["gen_ai.request.model"] = model
    with task_scope(task_id), tracer().start_as_current_span(
        name, context=parent, links=links, attributes=attributes
    ) as span:
        yield span
