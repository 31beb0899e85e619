"""The API's OpenAPI 3.1 document, generated from the pydantic schemas the service answers with.

The table of operations below says which schema each status code of each route carries; the
schemas themselves come from the models, so the document cannot drift from the bodies. A test
checks the routes against the functions the worker indexes, and the suites validate every
response they see against this document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .schemas import (
    TASK_ID_PATTERN,
    ErrorDetail,
    PlanInput,
    TaskCancelled,
    TaskCreate,
    TaskCreated,
    TaskFilesView,
    TaskInputAccepted,
    TaskList,
    TaskMessagesView,
    TaskNotFinishedView,
    TaskResultView,
    TaskStatusView,
    ValidationErrors,
)
from .service import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, MESSAGES_MAX_LIMIT, STATUSES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": TASK_ID_PATTERN}}
PRINCIPAL = {
    "name": "X-MS-CLIENT-PRINCIPAL-ID",
    "in": "header",
    "required": False,
    "description": "Set by App Service authentication; a task is visible only to the principal that created it.",
    "schema": {"type": "string"},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before asking again", "schema": {"type": "string"}}}
LOCATION = {"Location": {"description": "Where to poll the task", "schema": {"type": "string"}}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key from the same owner returns the same task (for as long as the task exists); "
    "reused with a request that differs in any field, it is a 422.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
REPLAYED = {"Idempotent-Replayed": {"description": "`true` when an earlier request with this key created the task",
                                    "schema": {"type": "string"}}}


@dataclass(frozen=True)
class Response:
    description: str
    body: type[BaseModel] | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] | None = None  # a body that is not one of the models (a file's bytes)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    responses: dict[int, Response]
    request: type[BaseModel] | None = None
    parameters: Sequence[dict[str, Any]] = ()


NOT_FOUND = Response("No such task (or not this principal's)", ErrorDetail)
FILE_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The file's path as `GET /tasks/{task_id}/files` lists it (`inputs/...` for attachments); "
                            "its slashes are path separators (the route's catch-all parameter)"}
DOWNLOAD_HEADERS = {
    "Content-Disposition": {"description": "`attachment` with the file's name", "schema": {"type": "string"}},
    "X-Content-Type-Options": {"description": "`nosniff`", "schema": {"type": "string"}},
}
BAD_ID = Response("The id cannot be a task id", ValidationErrors)
UNAVAILABLE = Response("Task state is unavailable; try again later", ErrorDetail, RETRY_AFTER)
CONFIG_ERROR = Response("The server's settings are invalid", ErrorDetail)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", "/tasks", "create_task", "Start a Magentic-One task",
        request=TaskCreate,
        parameters=(PRINCIPAL, IDEMPOTENCY_KEY),
        responses={
            202: Response("Accepted: the task is pending (or, replayed, as it is now)", TaskCreated,
                          {**LOCATION, **RETRY_AFTER, **REPLAYED}),
            413: Response("The body is larger than the longest prompt could need", ValidationErrors),
            422: Response("The body is not a valid task", ValidationErrors),
            500: CONFIG_ERROR,
            503: Response("The task could not be started; nothing was created", ErrorDetail, RETRY_AFTER),
        },
    ),
    Operation(
        "get", "/tasks/{task_id}", "get_task_status", "A task's status",
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            200: Response("The task's status", TaskStatusView),
            404: NOT_FOUND, 422: BAD_ID, 500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "get", "/tasks/{task_id}/result", "get_task_result", "A finished task's result",
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            200: Response("The task finished (completed or failed)", TaskResultView),
            202: Response("The task has not finished yet", TaskNotFinishedView, RETRY_AFTER),
            404: NOT_FOUND, 422: BAD_ID, 500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "get", "/tasks", "list_tasks", "The caller's tasks, newest first",
        parameters=(
            {"name": "status", "in": "query", "required": False, "schema": {"enum": list(STATUSES)}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "`next_cursor` of the previous page"},
            PRINCIPAL,
        ),
        responses={
            200: Response("A page of tasks", TaskList),
            422: Response("A query parameter is invalid", ValidationErrors),
            500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "delete", "/tasks/{task_id}", "delete_task", "Remove a finished task from both stores",
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            204: Response("Deleted: Durable history purged, rows and workspace gone"),
            404: NOT_FOUND,
            409: Response("The task is still pending or running (cancel it first), or its cancelled run is "
                          "still stopping (Retry-After)", ErrorDetail, RETRY_AFTER),
            422: BAD_ID, 500: CONFIG_ERROR,
            503: Response("A store could not be reached; try again", ErrorDetail, RETRY_AFTER),
        },
    ),
    Operation(
        "post", "/tasks/{task_id}/cancel", "cancel_task", "Cancel a pending or running task",
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            200: Response("The task was already cancelled", TaskCancelled),
            202: Response("Cancelled now: the run stops within seconds, keeping its transcript and tokens so far",
                          TaskCancelled),
            404: NOT_FOUND,
            409: Response("The task already finished (completed or failed); the detail says which", ErrorDetail),
            422: BAD_ID, 500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "get", "/tasks/{task_id}/messages", "get_task_messages", "Follow a task's messages from a cursor",
        parameters=(
            TASK_ID,
            {"name": "after", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0},
             "description": "Stream position to start from (0-based): `next_after` of the previous page"},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MESSAGES_MAX_LIMIT, "default": 100}},
            {"name": "wait", "in": "query", "required": False,
             "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
             "description": "Seconds to wait for a message when there is none yet (long poll)"},
            PRINCIPAL,
        ),
        responses={
            200: Response("Messages from `after` (possibly none), `next_after` and whether the stream has ended",
                          TaskMessagesView),
            404: NOT_FOUND,
            422: Response("The id or a query parameter is invalid", ValidationErrors),
            500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "post", "/tasks/{task_id}/input", "submit_task_input",
        "Approve, revise or reject the plan of a task awaiting input (created with \"review\": \"plan\")",
        request=PlanInput,
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            202: Response("Handed to the waiting task: approve and revise go on running (revise with the given "
                          "plan), reject ends the task cancelled", TaskInputAccepted),
            404: NOT_FOUND,
            409: Response("The task is not awaiting input, or another decision was already taken on its plan "
                          "(another input, or the review's expiry); the detail says its status or that decision",
                          ErrorDetail),
            413: Response("The body is larger than the longest plan could need", ValidationErrors),
            422: Response("The id or the body is invalid", ValidationErrors),
            500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "get", "/tasks/{task_id}/files", "list_task_files", "A task's attachments and outputs",
        parameters=(TASK_ID, PRINCIPAL),
        responses={
            200: Response("Attachments (`inputs/...`), the outputs kept (final once the task is), and what was "
                          "not kept", TaskFilesView),
            404: NOT_FOUND, 422: BAD_ID, 500: CONFIG_ERROR, 503: UNAVAILABLE,
        },
    ),
    Operation(
        "get", "/tasks/{task_id}/files/{name}", "get_task_file", "Download one of a task's files",
        parameters=(TASK_ID, FILE_NAME, PRINCIPAL),
        responses={
            200: Response("The file's bytes, as an attachment; its type from its name, `application/octet-stream` "
                          "for anything a browser could run", headers=DOWNLOAD_HEADERS,
                          content={"*/*": {}}),  # OpenAPI 3.1: bytes of any type carry no schema
            404: Response("No such task, or no such file of it", ErrorDetail),
            422: BAD_ID, 500: CONFIG_ERROR,
            503: Response("Blob Storage (or the task's state) could not be reached; try again", ErrorDetail,
                          RETRY_AFTER),
        },
    ),
    Operation(
        "get", "/openapi.json", "get_openapi", "This document",
        responses={200: Response("The OpenAPI document")},
    ),
)

_REF = "#/components/schemas/{model}"


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process)."""
    requests = {op.request for op in OPERATIONS if op.request is not None}
    bodies = {r.body for op in OPERATIONS for r in op.responses.values() if r.body is not None}
    keyed = [(model, "validation") for model in sorted(requests, key=lambda m: m.__name__)]
    keyed += [(model, "serialization") for model in sorted(bodies, key=lambda m: m.__name__)]
    _, definitions = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": list(op.parameters),
            "responses": {
                str(code): {
                    "description": response.description,
                    **({"content": _content(response.body)} if response.body else {}),
                    **({"content": response.content} if response.content else {}),
                    **({"headers": response.headers} if response.headers else {}),
                }
                for code, response in sorted(op.responses.items())
            },
        }
        if op.request is not None:
            entry["requestBody"] = {"required": True, "content": _content(op.request)}
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Magentic-One tasks",
            "version": API_VERSION,
            "description": "Run Magentic-One agent tasks in the background, poll them, and collect their results.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {}],
    }
