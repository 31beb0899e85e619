"""What the service answers: the response value, request errors in FastAPI's shape, settings errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigurationError

RETRY_AFTER_SECONDS = 10
NOT_FOUND = "Task not found"


@dataclass
class ApiResponse:
    status_code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class InvalidRequest(Exception):
    """A request that fails validation; `detail` is FastAPI's list of errors."""

    def __init__(self, detail: list[dict[str, Any]], status_code: int = 422) -> None:
        super().__init__(json.dumps(detail))
        self.detail = detail
        self.status_code = status_code


def error_entry(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    """One entry of a FastAPI-shaped `detail` list."""
    return {"type": kind, "loc": list(loc), "msg": msg}


def validation_detail(error: ValidationError, prefix: str) -> list[dict[str, Any]]:
    """Pydantic's errors in FastAPI's shape, without echoing the input back."""
    return [
        error_entry((prefix, *item["loc"]), item["msg"], item["type"])
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def unavailable(detail: str) -> ApiResponse:
    """A 503 that tells the client when to try again."""
    return ApiResponse(503, {"detail": detail}, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def config_error_response(error: ValidationError | ConfigurationError) -> ApiResponse:
    """A settings problem, told plainly without the offending values."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
    else:
        problems = str(error)
    return ApiResponse(500, {"detail": f"Server configuration error: {problems}"})
