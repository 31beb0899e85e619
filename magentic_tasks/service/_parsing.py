"""Request bodies (HTTP and queue) into validated `TaskCreate`s, or `InvalidRequest`."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..schemas import TaskCreate
from ..settings import Settings
from ._responses import InvalidRequest, error_entry, validation_detail


def max_body_bytes(settings: Settings) -> int:
    # Room for a prompt of MAX_PROMPT_CHARS characters of up to 4 UTF-8 bytes, or 6 JSON-escaped.
    return settings.max_prompt_chars * 6 + 4096


def parse_json_object(body: bytes, max_bytes: int) -> Any:
    """The request body as JSON, or `InvalidRequest` shaped as FastAPI reports it."""
    if len(body) > max_bytes:
        raise InvalidRequest([error_entry(("body",), f"Request body exceeds {max_bytes} bytes", "too_large")], 413)
    if not body.strip():
        raise InvalidRequest([error_entry(("body",), "Field required", "missing")])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            [error_entry(("body", error.start), "Body is not valid UTF-8", "json_invalid")]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequest(
            [error_entry(("body", error.pos), f"JSON decode error: {error.msg}", "json_invalid")]
        ) from None


def validate_create(body: bytes, settings: Settings, schema: type[TaskCreate] = TaskCreate) -> TaskCreate:
    """The request as a `schema`, or `InvalidRequest` with every problem found."""
    data = parse_json_object(body, max_body_bytes(settings))
    try:
        request = schema.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest(validation_detail(error, "body")) from None
    problems: list[dict[str, Any]] = []
    limit = settings.max_prompt_chars
    if len(request.prompt) > limit:
        problems.append(
            error_entry(("body", "prompt"), f"String should have at most {limit} characters", "string_too_long")
        )
    provider = settings.provider_problem(request.use_aoai)
    if provider:
        problems.append(error_entry(("body", "use_aoai"), provider, "provider_not_configured"))
    if not settings.model_allowed(request.model_name):
        allowed = ", ".join(settings.allowed_models)
        problems.append(
            error_entry(
                ("body", "model_name"),
                f"Model '{request.model_name}' is not allowed on this server (allowed: {allowed})",
                "model_not_allowed",
            )
        )
    if problems:
        raise InvalidRequest(problems)
    return request
