"""HTTP triggers of the task API (the original service's three endpoints and more); a few lines each.

Routes have no `/api` prefix (host.json sets `routePrefix` to ""). Functions need a function key
unless `HTTP_AUTH_LEVEL=anonymous` (local development only). A task belongs to the caller's
`X-MS-CLIENT-PRINCIPAL-ID` only where that header can be trusted (`Settings.principal_headers_trusted`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from durable import DurableOrchestrations
from magentic_tasks.errors import ConfigurationError
from magentic_tasks.settings import Settings, get_settings
from magentic_tasks.telemetry import task_creation

from .indexing_settings import invalid_fields, settings_at_indexing

if TYPE_CHECKING:
    from magentic_tasks.service import TaskService

    from .http_answers import HttpAnswer

    # What a route does with the service, the request and the caller's principal.
    Handler = Callable[[TaskService, func.HttpRequest, str | None], Awaitable[HttpAnswer]]

logger = logging.getLogger(__name__)

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def auth_level(settings: Settings) -> func.AuthLevel:
    """FUNCTION unless `HTTP_AUTH_LEVEL=anonymous` (local development only); read once, at indexing."""
    return func.AuthLevel.ANONYMOUS if settings.http_auth_level == "anonymous" else func.AuthLevel.FUNCTION


bp = df.Blueprint()
AUTH_LEVEL = auth_level(settings_at_indexing())


def service_for(client: df.DurableOrchestrationClient) -> TaskService | HttpAnswer:
    from magentic_tasks.service import TaskService  # see starters/__init__.py

    from .http_answers import answer_for_settings

    try:
        return TaskService(get_settings(), DurableOrchestrations(client))
    except (ValidationError, ConfigurationError) as error:
        problem = invalid_fields(error) if isinstance(error, ValidationError) else error.__class__.__name__
        logger.error("settings are invalid: %s", problem)
        return answer_for_settings(error)


def to_http(answer: HttpAnswer) -> func.HttpResponse:
    if answer.raw is not None:
        return func.HttpResponse(answer.raw, status_code=answer.status_code, headers=answer.headers,
                                 mimetype=answer.mimetype)
    if answer.body is None:
        return func.HttpResponse(status_code=answer.status_code, headers=answer.headers)
    return func.HttpResponse(
        json.dumps(answer.body),
        status_code=answer.status_code,
        headers=answer.headers,
        mimetype="application/json",
    )


async def answered(call: Awaitable[object]) -> HttpAnswer:
    """The service call's domain result, or the error it raised, as an HTTP answer."""
    from magentic_tasks.service import ServiceError

    from .http_answers import answer_for, answer_for_error

    try:
        return answer_for(await call)
    except ServiceError as error:
        return answer_for_error(error)


def owner_of(req: func.HttpRequest, settings: Settings) -> str | None:
    """The App Service authentication principal, when the header can be trusted; else None.

    Without App Service authentication any caller can send the header, so it names no one."""
    if not settings.principal_headers_trusted:
        return None
    return req.headers.get(PRINCIPAL_HEADER) or None


async def answer(req: func.HttpRequest, client: df.DurableOrchestrationClient, handle: Handler) -> func.HttpResponse:
    """The service for this call (or the settings error), the caller's principal, `handle`, as HTTP."""
    from magentic_tasks.service import TaskService

    service = service_for(client)
    if not isinstance(service, TaskService):
        return to_http(service)
    return to_http(await handle(service, req, owner_of(req, service.settings)))


def task_id_of(req: func.HttpRequest) -> str:
    return str(req.route_params.get("task_id", ""))


async def create(service: TaskService, req: func.HttpRequest, owner: str | None) -> HttpAnswer:
    with task_creation(req.headers.get("traceparent")) as trace:
        key = req.headers.get(IDEMPOTENCY_HEADER)
        response = await answered(service.create(req.get_body(), owner, key, trace.trace_parent))
        trace.created((response.body or {}).get("task_id"), response.status_code)
    return response


async def create_task(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, create)


async def get_task_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.status(task_id_of(req), owner)))


async def get_task_result(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.result(task_id_of(req), owner)))


async def list_tasks(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.list_tasks(dict(req.params), owner)))


async def delete_task(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.delete(task_id_of(req), owner)))


async def cancel_task(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.cancel(task_id_of(req), owner)))


async def submit_task_input(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(
        req, client, lambda service, req, owner: answered(service.submit_input(task_id_of(req), owner, req.get_body()))
    )


async def get_task_messages(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(
        req, client, lambda service, req, owner: answered(service.messages(task_id_of(req), owner, dict(req.params)))
    )


async def list_task_files(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await answer(req, client, lambda service, req, owner: answered(service.files(task_id_of(req), owner)))


async def get_task_file(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    def download(service: TaskService, req: func.HttpRequest, owner: str | None) -> Awaitable[HttpAnswer]:
        name = str(req.route_params.get("name", ""))
        return answered(service.download(task_id_of(req), owner, name))

    return await answer(req, client, download)


def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    # Imported on first use: only this route needs the module, and building its tables costs every load.
    from magentic_tasks.openapi import openapi_document

    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json")


def _register(fn: object, route: str, method: str) -> None:
    builder = bp.durable_client_input(client_name="client")(fn)
    bp.route(route=route, methods=[method], auth_level=AUTH_LEVEL)(builder)


_register(create_task, "tasks", "POST")
_register(get_task_status, "tasks/{task_id}", "GET")
_register(get_task_result, "tasks/{task_id}/result", "GET")
_register(list_tasks, "tasks", "GET")
_register(delete_task, "tasks/{task_id}", "DELETE")
_register(cancel_task, "tasks/{task_id}/cancel", "POST")
_register(get_task_messages, "tasks/{task_id}/messages", "GET")
_register(submit_task_input, "tasks/{task_id}/input", "POST")
_register(list_task_files, "tasks/{task_id}/files", "GET")
_register(get_task_file, "tasks/{task_id}/files/{*name}", "GET")
bp.route(route="openapi.json", methods=["GET"], auth_level=AUTH_LEVEL)(get_openapi)
