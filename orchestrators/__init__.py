"""Orchestrator functions (blueprint `bp`)."""

from .task_orchestrator import bp, task_orchestrator

__all__ = ["bp", "task_orchestrator"]
