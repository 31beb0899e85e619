"""Starter functions: the HTTP API and the queue trigger, one blueprint each."""

from .http_api import bp as http_bp
from .queue_trigger import bp as queue_bp

__all__ = ["http_bp", "queue_bp"]
