"""Starter functions: the HTTP API, the queue and event triggers, and the mirror's reconcile timer.

They import `magentic_tasks.service` (and with it the SQLite store and the HTTP answers' models) when
one of them first runs, not when the worker indexes the app: an instance that only runs
orchestrations and activities never needs it, and indexing stays cheap.
"""

from .http_api import bp as http_bp
from .indexing import starter_blueprints
from .indexing_settings import settings_at_indexing
from .maintenance import bp as maintenance_bp
from .queue_trigger import bp as queue_bp

__all__ = ["http_bp", "maintenance_bp", "queue_bp", "settings_at_indexing", "starter_blueprints"]
