"""The OpenAPI document: valid OpenAPI 3.1, and exactly the routes the app registers."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from magentic_tasks.openapi import OPERATIONS, openapi_document
from tests.test_function_app import CONSOLE, functions


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()

    validate(document)
    assert document["openapi"] == "3.1.0"
    json.dumps(document)  # plain JSON, ready to serve


def test_every_route_of_the_app_is_documented_and_nothing_else() -> None:
    """Every route of the API; the console's static files are not API (tests/test_function_app.py). A
    catch-all parameter ({*name}: a file's path, slashes and all) is a plain one in OpenAPI."""
    registered = {
        (f"/{fn['route']}".replace("{*", "{"), method.lower())
        for name, fn in functions().items()
        if fn["trigger"] == "httpTrigger" and name not in CONSOLE
        for method in fn["methods"]
    }

    documented = {(op.path, op.method) for op in OPERATIONS}

    assert documented == registered


def test_every_response_body_refers_to_a_schema_in_the_document() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    if media_type == "*/*":  # a download: the file's bytes, of any type, no schema
                        assert media == {}
                        continue
                    name = media["schema"]["$ref"].rsplit("/", 1)[1]
                    assert name in schemas, f"{method} {path} {code} refers to {name}"
