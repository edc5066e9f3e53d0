"""OpenAPI descriptions of the error responses, so clients see the problem+json shape."""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec

from service.api.problems import PROBLEM_MEDIA_TYPE, Problem

_MEANINGS = {
    400: "Malformed JSON, a wrong type, an unknown field or a bad parameter; `errors` names each",
    401: "Missing, expired or invalid bearer token",
    403: "Valid token without the role this route needs",
    404: "No such object in this tenant",
    409: "Conflicts with existing data (e.g. the key already exists)",
    410: "The object's content is gone for good (e.g. an expired or failed export's file)",
    412: "If-Match does not match the current ETag: read again, merge, retry",
    413: "Request body larger than MAX_BODY_BYTES",
    422: "Well-formed but not applicable (e.g. an unknown parent); `errors` names each row",
    416: "The Range names no byte of the file, or is malformed (Content-Range: bytes */<size>)",
    428: "This write needs If-Match with the ETag last read",
    429: "A service client over its rate limit: retry after the Retry-After seconds",
}


def also(status: int, data_container: Any, description: str) -> dict[int, ResponseSpec]:
    """A second success status of a route (its decorator's `status_code` documents the first)."""
    return {
        status: ResponseSpec(data_container=data_container, description=description, generate_examples=False)
    }


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_MEANINGS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status in (400, 401, 403, *statuses, 429)
    }
