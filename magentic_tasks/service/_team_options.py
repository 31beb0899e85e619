"""A task's team options (`agents`, `max_turns`, `max_tokens`, `deadline_seconds`): checked against
the server's caps when the task is created, and resolved into the `TeamOptions` it runs with."""

from __future__ import annotations

from typing import Any

from ..browser import web_surfer_decision
from ..schemas import AGENT_NAMES, AgentName, TaskCreate, TeamOptions
from ..settings import Settings
from ._errors import error_entry


def available_agents(settings: Settings) -> tuple[AgentName, ...]:
    """The agents this deployment has: the FileSurfer and the Coder always, the WebSurfer where
    `ENABLE_WEB_SURFER` finds a browser (`browser.web_surfer_decision`)."""
    web = web_surfer_decision(settings).enabled
    return tuple(name for name in AGENT_NAMES if web or name != "web")


def team_problems(request: TaskCreate, settings: Settings) -> list[dict[str, Any]]:
    """FastAPI-shaped errors for options past the server's caps (each naming its cap), or none."""
    problems = []

    def over(field: str, cap: float, setting: str) -> None:
        problems.append(error_entry(("body", field), f"{field} may be at most {cap:g} on this server ({setting})",
                                    "cap_exceeded"))

    if request.max_turns is not None and request.max_turns > settings.max_turns:
        over("max_turns", settings.max_turns, "MAX_TURNS")
    budget = settings.max_tokens_per_task
    if request.max_tokens is not None and budget is not None and request.max_tokens > budget:
        over("max_tokens", budget, "MAX_TOKENS_PER_TASK")
    if request.deadline_seconds is not None and request.deadline_seconds > settings.task_timeout_seconds:
        over("deadline_seconds", settings.task_timeout_seconds, "TASK_TIMEOUT_SECONDS")
    missing = [name for name in request.agents or () if name not in available_agents(settings)]
    if missing:
        problems.append(error_entry(("body", "agents"), f"This server has no {', '.join(missing)} agent "
                                    f"(it has: {', '.join(available_agents(settings))})", "agent_unavailable"))
    return problems


def resolve_team(request: TaskCreate, settings: Settings) -> TeamOptions:
    """The team the (validated) request runs with: its own options, the server's where it gave none."""
    agents = request.agents or available_agents(settings)
    return TeamOptions(
        agents=tuple(name for name in AGENT_NAMES if name in agents),  # one order: comparable, and stable
        max_turns=request.max_turns or settings.max_turns,
        max_tokens=request.max_tokens or settings.max_tokens_per_task,
        deadline_seconds=request.deadline_seconds or settings.task_timeout_seconds,
    )
