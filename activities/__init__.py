"""Activity functions (blueprint `bp`)."""

from .run_task import bp, record_failure_activity, run_magentic_one_activity

__all__ = ["bp", "record_failure_activity", "run_magentic_one_activity"]
