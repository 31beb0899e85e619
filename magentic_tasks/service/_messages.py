"""Following a task: `GET /tasks/{id}/messages`, its stream, long-polled.

The stream (like `GET /tasks/{id}`'s `progress`) comes from SQLite, where the run activity writes
it as messages stream (the HTTP function runs on another instance and cannot ask the run): the
messages with their task-wide stream `position`, and the attempt's progress row in the same
transaction. Durable state still decides whether the task is finished and whose it is (`TaskReader.find`).

The cursor: `after=N` asks for the stream from position N (0-based). Positions number every message
any attempt stored, densely and in commit order, so following `next_after` never repeats or skips
one, also across a retry or a disconnect. A page holds one attempt's messages; when `attempt`
changes, a retried attempt started its transcript over. `finished` is true only once the task is
final and no attempt is still streaming (a cancelled run drains its last messages first), so a
client that stops at `finished` has everything.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..schemas import FINAL_STATUSES, TaskMessagesView
from ..store import best_effort
from ._errors import InvalidRequest, Unavailable, validation_detail
from ._reader import TaskReader

MAX_WAIT_SECONDS = 30.0  # well inside the HTTP function's timeout
MAX_LIMIT = 500
# How often a long poll looks again: one Durable status read and one SQLite read each time.
WAIT_POLL_SECONDS = 0.5


class MessagesQuery(BaseModel):
    """The query string of `GET /tasks/{id}/messages`; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    after: int = Field(default=0, ge=0, le=2**62)
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    wait: float = Field(default=0.0, ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)


async def messages(reader: TaskReader, task_id: str, owner: str | None, params: dict[str, Any]) -> TaskMessagesView:
    """`GET /tasks/{id}/messages`: a page of the stream from `after`, waiting up to `wait` seconds
    for one to arrive."""
    try:
        query = MessagesQuery.model_validate(params)
    except ValidationError as error:
        raise InvalidRequest(validation_detail(error, "query")) from None
    deadline = time.monotonic() + query.wait
    while True:
        found = await reader.find(task_id, owner, transcript=False)
        streaming = await reader.streaming(found)  # asked before the page: nothing lands unseen
        page = await best_effort(reader.store.stream_page, task_id, query.after, query.limit)
        if page is None:
            raise Unavailable("The task's messages are unavailable; try again later")
        entries, complete = page
        finished = found.status in FINAL_STATUSES and streaming is False and complete
        remaining = deadline - time.monotonic()
        if entries or finished or remaining <= 0:
            break
        await asyncio.sleep(min(WAIT_POLL_SECONDS, remaining))
    return TaskMessagesView(
        task_id=task_id,
        status=found.status,
        attempt=entries[0][1] if entries else None,
        messages=[message for _, _, message in entries],
        next_after=entries[-1][0] + 1 if entries else query.after,
        finished=finished,
    )
