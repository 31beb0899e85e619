"""Which starters exist: decided once, when the worker indexes the app, from the settings."""

from __future__ import annotations

import azure.durable_functions as df

from magentic_tasks.settings import Settings

from . import console, event_grid, http_api, maintenance, queue_trigger, service_bus


def starter_blueprints(settings: Settings) -> list[df.Blueprint]:
    """The HTTP API, the Storage queue and the mirror's timer always; Service Bus and Event Grid
    starters only when their service is configured, so a local run without them indexes cleanly;
    the console's static files unless `CONSOLE_ENABLED=false`."""
    blueprints = [http_api.bp, queue_trigger.bp, maintenance.bp]
    if settings.console_enabled:
        blueprints.append(console.bp)
    if settings.service_bus_configured:
        blueprints.append(service_bus.blueprint(settings.service_bus_queue))
    if settings.event_grid_starter:
        blueprints.append(event_grid.bp)
    return blueprints
