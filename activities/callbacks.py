"""Delivering a task's signed completion event to its `callback_url`.

`start_callback_delivery_activity` starts the callback orchestration for a finished task (once:
a re-delivered activity finds it started); `deliver_callback_activity` makes one signed POST and
reports the result, never raising for the receiver's failures (the orchestration retries).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from durable import DELIVER_CALLBACK_ACTIVITY, START_CALLBACK_ACTIVITY, DurableOrchestrations
from magentic_tasks.settings import get_settings
from magentic_tasks.webhooks import CallbackPolicy, deliver

bp = df.Blueprint()


async def start_callback_delivery_activity(payload: Any, client: df.DurableOrchestrationClient) -> str:
    return await DurableOrchestrations(client).start_callback_delivery(str(payload["task_id"]), payload)


async def deliver_callback_activity(payload: Any) -> dict[str, Any]:
    settings = get_settings()
    secret = settings.webhook_secret
    if secret is None:
        return {"delivered": False, "status_code": None, "error": "WEBHOOK_SECRET is not set"}
    policy = CallbackPolicy(settings.callback_allowed_hosts, settings.callback_allow_private_networks)
    result = await deliver(str(payload["url"]), payload["event"], secret=secret.get_secret_value(), policy=policy)
    return {"delivered": result.delivered, "status_code": result.status_code, "error": result.error}


bp.activity_trigger(input_name="payload", activity=START_CALLBACK_ACTIVITY)(
    bp.durable_client_input(client_name="client")(start_callback_delivery_activity)
)
bp.activity_trigger(input_name="payload", activity=DELIVER_CALLBACK_ACTIVITY)(deliver_callback_activity)
