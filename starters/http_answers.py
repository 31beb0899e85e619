"""The service's domain results and errors as HTTP answers: status code, JSON body (or, for a file
download, its bytes and content type), headers.

Plain values, no Azure types: `http_api.to_http` turns an `HttpAnswer` into the Functions
response. Imported on the first request (with the service), not when the worker indexes the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from magentic_tasks.errors import ConfigurationError
from magentic_tasks.schemas import TaskInputAccepted, TaskNotFinishedView, TaskStatusView
from magentic_tasks.service import (
    RETRY_AFTER_SECONDS,
    Cancellation,
    Conflict,
    Created,
    FileDownload,
    FileNotFound,
    InvalidRequest,
    RequestTooLarge,
    ServiceError,
    TaskNotFound,
    Unavailable,
)


@dataclass
class HttpAnswer:
    status_code: int
    body: Any  # JSON-ready; None for no body (or for `raw` bytes)
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON: a file's bytes, served as `mimetype`
    mimetype: str = "application/json"


def download_headers(name: str) -> dict[str, str]:
    """A download is never shown in place: an attachment, named (RFC 6266/5987), not sniffed."""
    base = name.rsplit("/", 1)[-1]
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in base)
    return {
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }


def _retry_after(seconds: int = RETRY_AFTER_SECONDS) -> dict[str, str]:
    return {"Retry-After": str(seconds)}


def answer_for(result: object) -> HttpAnswer:
    """What a successful call of the service answers."""
    if result is None:  # deleted
        return HttpAnswer(204, None)
    if isinstance(result, FileDownload):
        return HttpAnswer(200, None, download_headers(result.name), raw=result.data, mimetype=result.content_type)
    if isinstance(result, Created):
        headers = {"Location": f"/tasks/{result.task.task_id}", **_retry_after()}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return HttpAnswer(202, result.task.model_dump(mode="json"), headers)
    if isinstance(result, Cancellation):
        return HttpAnswer(202 if result.now else 200, result.view.model_dump(mode="json"))
    if isinstance(result, TaskNotFinishedView):
        return HttpAnswer(202, result.model_dump(mode="json"), _retry_after())
    if isinstance(result, TaskStatusView):
        # `plan` only while the task awaits input: other statuses keep the original API's shape.
        return HttpAnswer(200, result.model_dump(mode="json", exclude=None if result.plan is not None else {"plan"}))
    if isinstance(result, TaskInputAccepted):  # handed to the waiting task, which goes on by itself
        return HttpAnswer(202, result.model_dump(mode="json"))
    if isinstance(result, BaseModel):  # a view: status, result, list, messages
        return HttpAnswer(200, result.model_dump(mode="json"))
    raise TypeError(f"no HTTP answer for {type(result).__name__}")


def answer_for_error(error: ServiceError) -> HttpAnswer:
    """What a refusal of the service answers."""
    if isinstance(error, RequestTooLarge):
        return HttpAnswer(413, {"detail": error.detail})
    if isinstance(error, InvalidRequest):
        return HttpAnswer(422, {"detail": error.detail})
    if isinstance(error, TaskNotFound | FileNotFound):
        return HttpAnswer(404, {"detail": error.detail})
    if isinstance(error, Conflict):
        retry = _retry_after(error.retry_after_seconds) if error.retry_after_seconds else {}
        return HttpAnswer(409, {"detail": error.detail}, retry)
    if isinstance(error, Unavailable):
        return HttpAnswer(503, {"detail": error.detail}, _retry_after())
    raise TypeError(f"no HTTP answer for {type(error).__name__}")


def answer_for_settings(error: ValidationError | ConfigurationError) -> HttpAnswer:
    """A settings problem, told plainly without the offending values."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
    else:
        problems = str(error)
    return HttpAnswer(500, {"detail": f"Server configuration error: {problems}"})
