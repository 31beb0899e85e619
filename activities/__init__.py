"""Activity functions: the team run and the failure record, callback delivery, event publishing,
and what a terminated task's announcement publishes."""

import azure.durable_functions as df

from magentic_tasks.settings import Settings

from . import announcements, callbacks, events
from .run_task import bp, record_failure_activity, run_magentic_one_activity


def activity_blueprints(settings: Settings) -> list[df.Blueprint]:
    """Every activity; the event publishers only for the sinks `settings` configure."""
    return [bp, announcements.bp, callbacks.bp, events.blueprint(settings)]


__all__ = ["activity_blueprints", "bp", "record_failure_activity", "run_magentic_one_activity"]
