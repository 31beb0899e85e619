"""Orchestrator functions: the task's own, the announcement of a terminated task, and the delivery
of a task's callback."""

import azure.durable_functions as df

from . import announcements, callbacks
from .task_orchestrator import bp, task_orchestrator

BLUEPRINTS: list[df.Blueprint] = [bp, announcements.bp, callbacks.bp]

__all__ = ["BLUEPRINTS", "bp", "task_orchestrator"]
