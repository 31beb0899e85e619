"""Whose a task is, and who may see it.

A task created over HTTP belongs to the caller's principal (`X-MS-CLIENT-PRINCIPAL-ID`, where it can
be trusted), or to no one (`None`: every caller may see it). A task started from a queue or an event
belongs to the `owner` its message names (trusted: only the app's own identity, or whoever the
operator lets, can send to the queue or topic); without one, while principals are trusted, to the
starter itself (`service:<starter>`), which no caller is, so no caller sees it.
"""

from __future__ import annotations

SERVICE_OWNER_PREFIX = "service:"


def starter_owner(source: str) -> str:
    """The owner of a task a starter (`storage-queue`, `service-bus`, `event-grid`) started without one."""
    return f"{SERVICE_OWNER_PREFIX}{source}"


def is_service_owner(owner: str | None) -> bool:
    return owner is not None and owner.startswith(SERVICE_OWNER_PREFIX)


def visible_to(task_owner: str | None, caller: str | None) -> bool:
    """Whether `caller` may see a task owned by `task_owner`: its own, or nobody's. A service owner is
    nobody's caller, even one whose principal header says so."""
    return task_owner is None or (task_owner == caller and not is_service_owner(task_owner))
