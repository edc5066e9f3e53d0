"""Domain errors. The API layer turns each into an RFC 9457 problem; the domain never sees HTTP."""

from __future__ import annotations

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


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


# Unique constraints, named in the migrations, and the input field each one guards.
UNIQUE_FIELDS = {
    "tenants_slug_key": "/slug",
    "trusted_issuers_issuer_audience_key": "/audience",
    "org_units_code_key": "/code",
    "people_external_id_key": "/external_id",
}
