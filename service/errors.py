"""Domain errors. The API layer turns each into an RFC 9457 problem; the domain never sees HTTP.

Details are written with `msg(...)` (service.i18n) and translated when the problem is built;
a plain `str` detail passes through untranslated. `exc.detail` is always the English text (safe
to log or store); `exc.message` keeps the translatable message.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from service.i18n import Message, msg


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One problem with one input: `pointer` is a JSON pointer into the body, `parameter` names a query parameter.

    `detail` may be a `Message` (a `str`): on the wire it is the text in the reply's language."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    # A cell of an uploaded spreadsheet (POST /v1/items/import/xlsx): sheet name, 1-based row, column name.
    sheet: str | None = None
    row: int | None = None
    column: str | None = None


class DomainError(Exception):
    status = 400
    slug = "bad-request"
    title: str = msg("Bad request")
    # True when the request's transaction commits despite the error: what it did before
    # refusing (submitting an attempt at its deadline, say) is what the error reports.
    keeps_changes = False

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(str(detail))
        self.message = detail
        self.detail = str(detail)
        self.errors = errors or []


class NotFound(DomainError):
    status, slug, title = 404, "not-found", msg("Not found")


class Conflict(DomainError):
    status, slug, title = 409, "conflict", msg("Conflict")


class Unprocessable(DomainError):
    status, slug, title = 422, "unprocessable", msg("The request is well-formed but cannot be applied")


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", msg("The resource changed since you read it")


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", msg("Send If-Match with the ETag you last read")


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", msg("Forbidden")


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
        if (
            match.group(0) == "[...]"
        ):  # a value inside a dict whose key msgspec does not name: stop at the dict
            break
        name, index, quoted = match.groups()
        pointer += "/" + escape_pointer_token(name or index or quoted or "")
    return pointer


# msgspec's validation messages, by shape, as catalog messages (its text is the msgid rendered, so
# the English is unchanged); a shape not listed stays as msgspec wrote it, untranslated.
_MSGSPEC_SHAPES: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(pattern), factory)
    for pattern, factory in [
        (
            r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`",
            lambda m: msg("Expected `{expected}`, got `{got}`", **m),
        ),
        (
            r"Object missing required field `(?P<field>.+)`",
            lambda m: msg("Object missing required field `{field}`", **m),
        ),
        (
            r"Object contains unknown field `(?P<field>.+)`",
            lambda m: msg("Object contains unknown field `{field}`", **m),
        ),
        (
            r"Expected `(?P<type>[^`]+)` of length <= (?P<limit>\d+)",
            lambda m: msg("Expected `{type}` of length <= {limit}", **m),
        ),
        (
            r"Expected `(?P<type>[^`]+)` of length >= (?P<limit>\d+)",
            lambda m: msg("Expected `{type}` of length >= {limit}", **m),
        ),
        (r"Expected `(?P<type>[^`]+)` <= (?P<limit>\S+)", lambda m: msg("Expected `{type}` <= {limit}", **m)),
        (r"Expected `(?P<type>[^`]+)` >= (?P<limit>\S+)", lambda m: msg("Expected `{type}` >= {limit}", **m)),
        (r"Expected `(?P<type>[^`]+)` < (?P<limit>\S+)", lambda m: msg("Expected `{type}` < {limit}", **m)),
        (r"Expected `(?P<type>[^`]+)` > (?P<limit>\S+)", lambda m: msg("Expected `{type}` > {limit}", **m)),
        (
            r"Expected `(?P<type>[^`]+)` that is a multiple of (?P<factor>\S+)",
            lambda m: msg("Expected `{type}` that is a multiple of {factor}", **m),
        ),
        (
            r"Expected `str` matching regex (?P<regex>.+)",
            lambda m: msg("Expected `str` matching regex {regex}", **m),
        ),
        (r"Invalid enum value (?P<value>.+)", lambda m: msg("Invalid enum value {value}", **m)),
        (r"Invalid RFC3339 encoded datetime", lambda m: msg("Invalid RFC3339 encoded datetime")),
        (r"Invalid RFC3339 encoded date", lambda m: msg("Invalid RFC3339 encoded date")),
        (r"Invalid UUID", lambda m: msg("Invalid UUID")),
        (r"Invalid base64 encoded string", lambda m: msg("Invalid base64 encoded string")),
        (
            r"Expected `(?P<type>[^`]+)` with a timezone component",
            lambda m: msg("Expected `{type}` with a timezone component", **m),
        ),
        (
            r"Expected `(?P<type>[^`]+)` with no timezone component",
            lambda m: msg("Expected `{type}` with no timezone component", **m),
        ),
        (
            r"JSON is malformed: (?P<reason>.+) \(byte (?P<byte>\d+)\)",
            lambda m: msg("JSON is malformed: {reason} (byte {byte})", **m),
        ),
        (r"Input data was truncated", lambda m: msg("Input data was truncated")),
        (
            r"JSON is malformed: a string holds invalid UTF-8",  # service/api/body.py's own
            lambda m: msg("JSON is malformed: a string holds invalid UTF-8"),
        ),
        (
            r"Missing required (?P<kind>\w+) parameter '(?P<name>[^']*)' for path (?P<path>.+)",
            lambda m: msg("Missing required {kind} parameter '{name}' for path {path}", **m),
        ),
    ]
]


def msgspec_message(text: str) -> str:
    """msgspec's (or Litestar's) validation text as a catalog message when its shape is known."""
    if isinstance(text, Message):
        return text
    for pattern, factory in _MSGSPEC_SHAPES:
        found = pattern.fullmatch(text)
        if found:
            message: Message = factory(found.groupdict())
            return message if message == text else text  # a shape that rendered differently: keep msgspec's
    return text


def msgspec_field_error(message: str) -> FieldError:
    text, _, where = message.partition(" - at `")
    pointer = json_path_to_pointer(where.rstrip("`")) if where else ""
    for pattern in (r"unknown field `(.+?)`", r"missing required field `(.+?)`"):
        found = re.search(pattern, text)
        if found:
            pointer += "/" + escape_pointer_token(found.group(1))
    return FieldError(detail=msgspec_message(text), pointer=pointer)


def etag_matches(if_match: str, etag: str) -> bool:
    """RFC 9110 If-Match: `*`, or a comma-separated list naming `etag`."""
    return if_match.strip() == "*" or etag in [tag.strip() for tag in if_match.split(",")]
