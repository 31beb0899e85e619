"""Token accounting for a whole run, every model call counted, the orchestrator's included.

Magentic-One's orchestrator messages carry `models_usage=None`, so summing usage over the
transcript (as the original service did) misses most of the cost. Instead each agent gets its
model client wrapped in a `MeteredClient`, which records the usage of every call it makes and
refuses further calls once the run's token budget is spent. `AttemptMeter` is one attempt's meter,
checked together with the tokens the run spent before it, and telling a listener of every call.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,  # type: ignore[attr-defined]
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from ..errors import TokenBudgetExceeded
from ..schemas import TokenUsage
from ..telemetry import model_call


class UsageMeter:
    """Tokens used by each agent during one run, against an optional budget."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget
        self.by_agent: dict[str, TokenUsage] = {}

    def record(self, agent: str, usage: RequestUsage) -> None:
        spent = TokenUsage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
        self.by_agent[agent] = self.by_agent.get(agent, TokenUsage()) + spent

    @property
    def total(self) -> TokenUsage:
        return sum(self.by_agent.values(), TokenUsage())

    @property
    def exhausted(self) -> bool:
        if self.budget is None:
            return False
        total = self.total
        return total.prompt_tokens + total.completion_tokens >= self.budget

    def check(self) -> None:
        """Raise `TokenBudgetExceeded` once the budget is spent."""
        if self.budget is not None and self.exhausted:
            total = self.total
            raise TokenBudgetExceeded(total.prompt_tokens + total.completion_tokens, self.budget)


class MeteredClient(ChatCompletionClient):
    """Delegates to a real client, recording each call's usage under one agent's name.

    It reports `structured_output: False`. With structured output, Magentic-One asks for its
    progress ledger through the openai SDK's parser, which raises on a malformed ledger before the
    call's usage is known (those tokens go uncounted), is not retried, and is not given the
    cancellation token (a run past its deadline waits for it). Without it the orchestrator uses JSON
    mode, retries malformed ledgers up to ten times, and every call is counted and cancellable.
    """

    component_type = "model"

    def __init__(
        self, inner: ChatCompletionClient, agent: str, meter: UsageMeter, *, enforce_budget: bool = True
    ) -> None:
        self._inner = inner
        self._agent = agent
        self._meter = meter
        self._enforce_budget = enforce_budget  # False: counted, never refused (a run's last answer)
        self._model, self._provider = _model_and_provider(inner)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if self._enforce_budget:
            self._meter.check()
        with model_call(self._agent, self._model, self._provider) as call:
            result = await self._inner.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            )
            call.finished(result.usage.prompt_tokens, result.usage.completion_tokens, result.finish_reason)
        self._meter.record(self._agent, result.usage)
        return result

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        if self._enforce_budget:
            self._meter.check()
        # Not the current span: a generator's yields hand control back to its caller.
        with model_call(self._agent, self._model, self._provider, current=False) as call:
            async for item in self._inner.create_stream(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            ):
                if isinstance(item, CreateResult):
                    call.finished(item.usage.prompt_tokens, item.usage.completion_tokens, item.finish_reason)
                    self._meter.record(self._agent, item.usage)
                yield item

    async def close(self) -> None:
        await self._inner.close()

    def actual_usage(self) -> RequestUsage:
        return self._inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self._inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
        return self._inner.capabilities  # type: ignore[no-any-return]

    @property
    def model_info(self) -> ModelInfo:
        info: ModelInfo = {**self._inner.model_info, "structured_output": False}
        return info


def _model_and_provider(client: ChatCompletionClient) -> tuple[str | None, str]:
    """The model a client asks for and its GenAI provider name, for telemetry. autogen-ext 0.7.5's
    OpenAI clients keep the model in `_create_args` (the Azure client: the deployment's model name);
    tests/telemetry pins it."""
    create_args = getattr(client, "_create_args", None)
    model = create_args.get("model") if isinstance(create_args, dict) else None
    provider = "azure.ai.openai" if type(client).__name__.startswith("Azure") else "openai"
    return (model if isinstance(model, str) else None), provider


class AttemptMeter(UsageMeter):
    """The attempt's own tokens (`by_agent`, from where a continued attempt stood), checked against
    the budget together with `spent_before` (the tokens of the run an attempt resumed)."""

    def __init__(self, budget: int | None, by_agent: dict[str, TokenUsage], spent_before: int) -> None:
        super().__init__(budget)
        self.by_agent = dict(by_agent)
        self.spent_before = spent_before
        self.listener: Callable[[], None] | None = None  # told of every completed model call

    def record(self, agent: str, usage: RequestUsage) -> None:
        super().record(agent, usage)
        if self.listener is not None:
            self.listener()

    @property
    def exhausted(self) -> bool:
        total = self.total
        spent = self.spent_before + total.prompt_tokens + total.completion_tokens
        return self.budget is not None and spent >= self.budget

    def check(self) -> None:
        if self.budget is not None and self.exhausted:
            total = self.total
            raise TokenBudgetExceeded(self.spent_before + total.prompt_tokens + total.completion_tokens, self.budget)
