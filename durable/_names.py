"""Every name Durable Functions knows this app by, defined once.

The registrations (orchestrators/, activities/) and the calls (the orchestrators, the client)
import these, so a function cannot be registered under one name and called under another.
"""

from __future__ import annotations

# Orchestrations.
TASK_ORCHESTRATOR = "task_orchestrator"
CALLBACK_ORCHESTRATOR = "callback_orchestrator"
ANNOUNCE_ORCHESTRATOR = "announce_orchestrator"

# Activities.
RUN_ACTIVITY = "run_magentic_one_activity"
FAILURE_ACTIVITY = "record_failure_activity"
START_CALLBACK_ACTIVITY = "start_callback_delivery_activity"
DELIVER_CALLBACK_ACTIVITY = "deliver_callback_activity"
ANNOUNCEMENT_ACTIVITY = "announcement_activity"

# The external event `POST /tasks/{id}/input` raises and a task awaiting input waits for.
PLAN_INPUT_EVENT = "plan_input"


def publish_activity(sink: str) -> str:
    """The name of the activity that publishes completion events to `sink` (activities/events.py)."""
    return f"publish_event_to_{sink}"


def is_task_instance(instance_id: str) -> bool:
    """Whether the instance is a task's own orchestration (its deliveries and announcements are
    suffixed with a colon, which no task id has)."""
    return ":" not in instance_id


def callback_instance_id(task_id: str) -> str:
    """The callback delivery's instance id: the task's own, suffixed (no task id has a colon)."""
    return f"{task_id}:callback"


def announcement_instance_id(task_id: str) -> str:
    """The instance id of the announcement of a task whose orchestration could not announce it."""
    return f"{task_id}:announce"
