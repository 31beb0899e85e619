"""Which starters exist: decided once, when the worker indexes the app, from the settings.

Invalid settings must not cost the host its functions: the always-on starters are registered
with the defaults (their calls then report the problem clearly), and the error is logged.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
from pydantic import ValidationError

from magentic_tasks.settings import Settings, get_settings

from . import event_grid, http_api, maintenance, queue_trigger, service_bus

logger = logging.getLogger(__name__)


def settings_at_indexing() -> Settings:
    """The settings, or the defaults (logged) when they are invalid."""
    try:
        return get_settings()
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in item["loc"]) for item in error.errors(include_input=False))
        logger.error("settings are invalid (%s); indexing the always-on functions only", fields)
        return Settings.model_construct()


def starter_blueprints(settings: Settings) -> list[df.Blueprint]:
    """The HTTP API, the Storage queue and the mirror's timer always; Service Bus and Event Grid
    starters only when their service is configured, so a local run without them indexes cleanly."""
    blueprints = [http_api.bp, queue_trigger.bp, maintenance.bp]
    if settings.service_bus_configured:
        blueprints.append(service_bus.blueprint(settings.service_bus_queue))
    if settings.event_grid_starter:
        blueprints.append(event_grid.bp)
    return blueprints
