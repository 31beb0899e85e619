"""Listing the caller's tasks: `GET /tasks?status=&limit=&cursor=`, newest first, cursor-paginated.

SQLite holds every task once its run has begun (the first attempt writes the row) or the reconcile
timer has seen it (`mirror_recent`, every 15 minutes); `POST /tasks` itself writes nothing there.
So a page is SQLite's rows merged with the tasks Durable created within `RECENT_WINDOW`, with
Durable's status taking precedence for those; the timer copies everything older into SQLite well
within that window.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import get_args

from ..clock import iso
from ..schemas import TaskList, TaskStatus, TaskSummary
from ..store import PageKey, best_effort, page_key
from ._errors import InvalidRequest, Unavailable, error_entry
from ._owners import is_service_owner
from ._reader import TaskReader, logger
from ._reconciling import RECENT_WINDOW

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
STATUSES: tuple[str, ...] = get_args(TaskStatus)


def encode_cursor(key: PageKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageKey:
    """The page key a cursor holds; ValueError for anything this server did not issue. A key is
    exactly two strings that UTF-8 can encode (SQLite is given them), the first a timestamp in the
    form the store writes (`iso`)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(key, list) and len(key) == 2 and all(isinstance(part, str) for part in key)):
            raise ValueError("not a page key")
        created_at, task_id = key
        created_at.encode("utf-8"), task_id.encode("utf-8")
        if iso(datetime.fromisoformat(created_at)) != created_at:
            raise ValueError("not a timestamp the store wrote")
    except (ValueError, TypeError, binascii.Error) as error:  # UnicodeError is a ValueError
        raise ValueError("not a cursor") from error
    return created_at, task_id


def parse_list_query(query: Mapping[str, str]) -> tuple[str | None, int, PageKey | None]:
    """`status`, `limit` and `cursor`, or `InvalidRequest` with every problem (never echoing them)."""
    problems = []
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        problems.append(error_entry(("query", "status"), f"Input should be one of {', '.join(STATUSES)}", "enum"))
    limit = DEFAULT_LIMIT
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            problems.append(error_entry(("query", "limit"), f"Input should be an integer from 1 to {MAX_LIMIT}",
                                        "int_range"))
        else:
            limit = int(raw_limit)
    after = None
    if query.get("cursor"):
        try:
            after = decode_cursor(query["cursor"])
        except ValueError:
            problems.append(error_entry(("query", "cursor"), "Not a cursor this server issued", "cursor_invalid"))
    if problems:
        raise InvalidRequest(problems)
    return status, limit, after


async def list_tasks(reader: TaskReader, query: Mapping[str, str], owner: str | None) -> TaskList:
    """`GET /tasks`: the owner's tasks, newest first, one page."""
    status, limit, after = parse_list_query(query)
    if is_service_owner(owner):  # no caller is a starter: its tasks are nobody's to list
        return TaskList(tasks=[], next_cursor=None)
    recent = await _recent_summaries(reader, owner)
    # Ask SQLite for enough rows that those whose status Durable overrides can be dropped.
    mirrored = await best_effort(
        lambda: reader.store.list_tasks(owner=owner, status=status, limit=limit + len(recent or []) + 1, after=after)
    )
    if mirrored is None and recent is None:
        raise Unavailable("Task state is unavailable; try again later")
    merged = {summary.task_id: summary for summary in mirrored or []}
    merged.update({summary.task_id: summary for summary in recent or []})
    page = sorted(
        (s for s in merged.values()
         if (status is None or s.status == status) and (after is None or page_key(s) < after)),
        key=page_key,
        reverse=True,
    )
    more = len(page) > limit
    page = page[:limit]
    return TaskList(tasks=page, next_cursor=encode_cursor(page_key(page[-1])) if more and page else None)


async def _recent_summaries(reader: TaskReader, owner: str | None) -> list[TaskSummary] | None:
    """The owner's tasks Durable created within `RECENT_WINDOW`; None when Durable cannot be asked."""
    try:
        snapshots = await reader.orchestrations.recent(reader.clock() - RECENT_WINDOW)
    except Exception as error:
        logger.warning("recent tasks unavailable from Durable: %s", reader.redact(str(error)))
        return None
    return [
        TaskSummary(task_id=s.task_id, status=s.status, model_name=s.model_name, created_at=s.created_at,
                    updated_at=s.updated_at)
        for s in snapshots
        if s.owner == owner
    ]
