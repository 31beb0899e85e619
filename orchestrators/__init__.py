"""Orchestrator functions: the task's own, and the delivery of its callback."""

import azure.durable_functions as df

from . import callbacks
from .task_orchestrator import bp, task_orchestrator

BLUEPRINTS: list[df.Blueprint] = [bp, callbacks.bp]

__all__ = ["BLUEPRINTS", "bp", "task_orchestrator"]
