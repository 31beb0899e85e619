"""The engine seam: everything this app knows about Durable Functions, in one place.

- `_names`: every orchestration, activity and event name, defined once; the registrations and the
  calls both import them;
- `_codec`: Durable state ↔ the task's (the orchestrator's custom status, its output, the run's
  result in the history), as plain values;
- `_client`: `DurableOrchestrations`, the service's `Orchestrations` over the SDK's client.

Above it: the Azure wiring (starters/, orchestrators/, activities/). Below it: `magentic_tasks`,
which never imports it.
"""

from ._client import DurableOrchestrations
from ._codec import custom_status, snapshot_from_durable, transcript_in_history
from ._names import (
    ANNOUNCE_ORCHESTRATOR,
    ANNOUNCEMENT_ACTIVITY,
    CALLBACK_ORCHESTRATOR,
    DELIVER_CALLBACK_ACTIVITY,
    FAILURE_ACTIVITY,
    PLAN_INPUT_EVENT,
    RUN_ACTIVITY,
    START_CALLBACK_ACTIVITY,
    TASK_ORCHESTRATOR,
    announcement_instance_id,
    callback_instance_id,
    publish_activity,
)

__all__ = [
    "ANNOUNCEMENT_ACTIVITY",
    "ANNOUNCE_ORCHESTRATOR",
    "CALLBACK_ORCHESTRATOR",
    "DELIVER_CALLBACK_ACTIVITY",
    "FAILURE_ACTIVITY",
    "PLAN_INPUT_EVENT",
    "RUN_ACTIVITY",
    "START_CALLBACK_ACTIVITY",
    "TASK_ORCHESTRATOR",
    "DurableOrchestrations",
    "announcement_instance_id",
    "callback_instance_id",
    "custom_status",
    "publish_activity",
    "snapshot_from_durable",
    "transcript_in_history",
]
