"""Starter functions: the HTTP API, the queue and event triggers, and the mirror's reconcile timer."""

from .http_api import bp as http_bp
from .indexing import starter_blueprints
from .indexing_settings import settings_at_indexing
from .maintenance import bp as maintenance_bp
from .queue_trigger import bp as queue_bp

__all__ = ["http_bp", "maintenance_bp", "queue_bp", "settings_at_indexing", "starter_blueprints"]
