"""Domain errors. The API layer turns each into an RFC 9457 problem; the domain never sees HTTP."""

from __future__ import annotations

import re

import msgspec


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One problem with one input: `pointer` is a JSON pointer into the body, `parameter` names a query parameter."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None


class DomainError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"
    # True when the request's transaction commits despite the error: what it did before
    # refusing (submitting an attempt at its deadline, say) is what the error reports.
    keeps_changes = False

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class Unprocessable(DomainError):
    status, slug, title = 422, "unprocessable", "The request is well-formed but cannot be applied"


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "The resource changed since you read it"


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", "Send If-Match with the ETag you last read"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


# Unique constraints, named in the migrations, and the input field each one guards.
UNIQUE_FIELDS = {
    "tenants_slug_key": "/slug",
    "trusted_issuers_issuer_audience_key": "/audience",
    "org_units_code_key": "/code",
    "people_external_id_key": "/external_id",
    "frameworks_code_key": "/code",
    "items_code_key": "/code",
    "assessments_code_key": "/code",
}


_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\[\.\.\.\]")


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_path_to_pointer(path: str) -> str:
    """msgspec's `$.units[3].code` becomes the JSON pointer `/units/3/code`."""
    pointer = ""
    for match in _PATH_TOKEN.finditer(path.removeprefix("$")):
        if match.group(0) == "[...]":  # a value inside a dict whose key msgspec does not name: stop at the dict
            break
        name, index, quoted = match.groups()
        pointer += "/" + escape_pointer_token(name or index or quoted or "")
    return pointer


def msgspec_field_error(message: str) -> FieldError:
    text, _, where = message.partition(" - at `")
    pointer = json_path_to_pointer(where.rstrip("`")) if where else ""
    for pattern in (r"unknown field `(.+?)`", r"missing required field `(.+?)`"):
        found = re.search(pattern, text)
        if found:
            pointer += "/" + escape_pointer_token(found.group(1))
    return FieldError(detail=text, pointer=pointer)


def etag_matches(if_match: str, etag: str) -> bool:
    """RFC 9110 If-Match: `*`, or a comma-separated list naming `etag`."""
    return if_match.strip() == "*" or etag in [tag.strip() for tag in if_match.split(",")]
