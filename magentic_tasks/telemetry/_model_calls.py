"""A span and metrics for each model call, with the OpenTelemetry GenAI semantic conventions
(`chat {model}`, CLIENT; `gen_ai.*` attributes; `gen_ai.client.token.usage` by token type).

autogen-ext 0.7.5's OpenAI clients emit no span of their own (autogen traces its runtime messages and
`invoke_agent` turns, not model requests), so the metered client, which every model call of a run
passes through, opens this one. Prompts and answers are never recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, use_span

from ._metrics import instruments
from ._spans import tracer


@dataclass
class ModelCall:
    span: Span
    attributes: dict[str, str]

    def finished(self, prompt_tokens: int, completion_tokens: int, finish_reason: str | None) -> None:
        self.span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
        self.span.set_attribute("gen_ai.usage.output_tokens", completion_tokens)
        if finish_reason:
            self.span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        usage = instruments().token_usage
        usage.record(prompt_tokens, {**self.attributes, "gen_ai.token.type": "input"})
        usage.record(completion_tokens, {**self.attributes, "gen_ai.token.type": "output"})


@contextmanager
def model_call(agent: str, model: str | None, provider: str, *, current: bool = True) -> Iterator[ModelCall]:
    """Span one model call of `agent`; `current=False` for a streamed call (its span spans yields)."""
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.agent.name": agent}
    if model:
        attributes["gen_ai.request.model"] = model
    name = f"chat {model}" if model else "chat"
    started = time.monotonic()
    span = tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    error: str | None = None
    try:
        if current:
            with use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                yield ModelCall(span, attributes)
        else:
            yield ModelCall(span, attributes)
    except GeneratorExit:  # the caller stopped reading a stream: not an error of the call
        raise
    except BaseException as exc:
        error = type(exc).__name__
        span.set_attribute("error.type", error)
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, str(exc)))
        raise
    finally:
        span.end()
        duration = {**attributes, "error.type": error} if error else attributes
        instruments().operation_duration.record(time.monotonic() - started, duration)
