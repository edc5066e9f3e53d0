"""The committed OpenAPI document is what the app generates; clients are built from it."""

from __future__ import annotations

import json

from service.api.openapi_doc import OPENAPI_PATH, render_openapi


def test_committed_document_matches_the_app():
    assert OPENAPI_PATH.read_text() == render_openapi(), (
        "openapi/openapi.json is stale: run `./dev assess openapi`"
    )


def test_every_operation_has_an_id_and_documents_problem_responses():
    document = json.loads(render_openapi())
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            assert operation["operationId"] not in seen
            seen.add(operation["operationId"])
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    # RFC 6749 §5.2 mandates its own JSON error body for the token endpoint: every error of
                    # it has that body (OAuth client libraries parse it, 429 and 5xx included).
                    oauth = path == "/oauth/token"
                    expected = "application/json" if oauth else "application/problem+json"
                    assert list(response["content"]) == [expected], (method, path, status)
