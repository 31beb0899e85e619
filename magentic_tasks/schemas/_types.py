"""Types shared by the schemas: task statuses, id and model-name patterns, UTC timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PlainSerializer, WithJsonSchema

from ..clock import as_utc, iso

TaskStatus = Literal["pending", "running", "awaiting_input", "completed", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
# How a run ended: cancelled through the API or by a Durable terminate, both recorded as `cancelled`.
OutcomeStatus = Literal["completed", "failed", "cancelled"]

# Durable instance ids may not hold '/', '\\', '#', '?' or control characters; this is stricter.
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$"

UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
TaskId = Annotated[str, Field(pattern=TASK_ID_PATTERN)]
