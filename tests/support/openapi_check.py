"""Every HTTP response a test sees, checked against the API's OpenAPI document (openapi-core)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from urllib.parse import quote, urlsplit

import azure.functions as func
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from magentic_tasks.openapi import openapi_document

_FILE_ROUTE = re.compile(r"(/tasks/[^/]+/files/)(.+)")


@cache
def _spec() -> OpenAPI:
    return OpenAPI.from_dict(openapi_document())


def is_console(path: str) -> bool:
    """The console's static files (starters/console.py): HTML, scripts and styles for a browser, not
    the API, so not in its document; tests/console checks their answers instead."""
    return path == "/console" or path.startswith("/console/")


def response_problems(exchanges: Iterable[tuple[func.HttpRequest, func.HttpResponse]]) -> list[str]:
    """One line per API response that the document does not allow (status, headers or body)."""
    problems = []
    for request, response in exchanges:
        url = urlsplit(request.url)
        if is_console(url.path):
            continue
        path = url.path
        if (download := _FILE_ROUTE.fullmatch(path)) is not None:
            # A file's path is one catch-all route parameter, slashes and all; OpenAPI has no such
            # parameter, so the document names it once and the check sees it as one segment.
            path = f"{download[1]}{quote(download[2], safe='')}"
        content_type = response.mimetype or response.headers.get("Content-Type") or "application/json"
        try:
            _spec().validate_response(
                MockRequest(f"{url.scheme}://{url.netloc}", request.method.lower(), path),
                MockResponse(response.get_body(), response.status_code, dict(response.headers),
                             content_type=content_type),
            )
        except Exception as error:
            cause = error.__cause__ or error
            problems.append(f"{request.method} {url.path} -> {response.status_code}: {type(cause).__name__}: {cause}"
                            f" body={response.get_body()[:300]!r}")
    return problems
