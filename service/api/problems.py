"""Every error leaves as `application/problem+json` (RFC 9457), naming the field at fault.

Type URIs are stable URNs (`urn:assess:problem:<slug>`); clients switch on them, people
read `title` and `detail`; validation problems carry `errors`, each with a JSON `pointer`
into the body or the `parameter` that was wrong. Database errors never leak SQL.

`title`, `detail` and each error's `detail` are in the language `Accept-Language` asks for
(zh-CN, the default, or en), with `Content-Language` and `Vary: Accept-Language`; the `type`
URNs never change with the language.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from service.auth.verify import InvalidToken, TenantSuspended
from service.errors import (
    UNIQUE_FIELDS,
    DomainError,
    FieldError,
    escape_pointer_token,
    msgspec_field_error,
    msgspec_message,
)
from service.i18n import language_headers, msg, negotiate, render

log = logging.getLogger("assess.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: msg("Bad request"),
    401: msg("Unauthorized"),
    403: msg("Forbidden"),
    404: msg("Not found"),
    405: msg("Method not allowed"),
    409: msg("Conflict"),
    412: msg("Precondition failed"),
    413: msg("Request body too large"),
    415: msg("Unsupported media type"),
    416: msg("Range not satisfiable"),
    422: msg("Unprocessable content"),
    428: msg("Precondition required"),
    429: msg("Too many requests"),
    500: msg("Internal server error"),
    503: msg("Service unavailable"),
}
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "too-many-requests",
    500: "internal",
    503: "unavailable",
}


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=list)


def localized_errors(errors: list[FieldError], locale: str) -> list[FieldError]:
    """Each error's detail in `locale` (a `Message` is translated; a plain `str` passes through)."""
    return [msgspec.structs.replace(error, detail=render(error.detail, locale)) for error in errors]


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    locale = negotiate(request.headers.get("accept-language"))
    body = Problem(
        type=f"urn:assess:problem:{slug or _SLUGS.get(status, 'error')}",
        title=render(title or _TITLES.get(status, msg("Error")), locale),
        status=status,
        detail=render(detail, locale),
        request_id=request.scope.get("state", {}).get("request_id"),
        errors=localized_errors(errors or [], locale),
    )
    return Response(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=language_headers(locale, headers)
    )


def on_domain_error(request: Request, exc: DomainError) -> Response[Problem]:
    return problem(request, exc.status, exc.message, slug=exc.slug, title=exc.title, errors=exc.errors)


_ENUM_MESSAGES = ("Invalid enum value", "Invalid value")  # the second: a tagged union's unknown tag


def _type_at(info: msgspec.inspect.Type, tokens: list[str]) -> list[msgspec.inspect.Type]:
    """The types a JSON pointer (as tokens) may reach inside `info` (several through a union)."""
    if isinstance(info, msgspec.inspect.Metadata):
        return _type_at(info.type, tokens)
    if isinstance(info, msgspec.inspect.UnionType):
        return [found for member in info.types for found in _type_at(member, tokens)]
    if not tokens:
        return [info]
    head, rest = tokens[0], tokens[1:]
    if isinstance(info, msgspec.inspect.StructType):
        if head == info.tag_field and not rest:
            return [msgspec.inspect.LiteralType((info.tag,))]
        return [
            found
            for field in info.fields
            if field.encode_name == head
            for found in _type_at(field.type, rest)
        ]
    if (
        isinstance(
            info,
            (
                msgspec.inspect.ListType,
                msgspec.inspect.VarTupleType,
                msgspec.inspect.SetType,
                msgspec.inspect.FrozenSetType,
            ),
        )
        and head.isdigit()
    ):
        return _type_at(info.item_type, rest)
    if isinstance(info, msgspec.inspect.DictType):
        return _type_at(info.value_type, rest)
    return []


def _allowed(types: list[msgspec.inspect.Type]) -> list[Any]:
    values: list[Any] = []
    for info in types:
        if isinstance(info, msgspec.inspect.LiteralType):
            values += [v for v in info.values if v not in values]
        elif isinstance(info, msgspec.inspect.EnumType):
            values += [m.value for m in info.cls if m.value not in values]
    return values


def with_allowed_values(message: str, annotation: Any, tokens: list[str]) -> str:
    """ "Invalid enum value 'x'" becomes "...; allowed: 'a', 'b'" when the expected type says which."""
    if not message.startswith(_ENUM_MESSAGES):
        return message
    try:
        values = _allowed(_type_at(msgspec.inspect.type_info(annotation), tokens))
    except (TypeError, ValueError):  # a type msgspec cannot describe: keep the message as it is
        return message
    if not values:
        return message
    return msg("{reason}; allowed: {values}", reason=message, values=", ".join(repr(v) for v in values))


def _annotation(request: Request, name: str) -> Any:
    handler = request.scope.get("route_handler")
    field = handler.parsed_fn_signature.parameters.get(name) if handler is not None else None
    return field.annotation if field is not None else None


def on_body_error(request: Request, exc: msgspec.MsgspecError) -> Response[Problem]:
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        reason = msgspec_message(str(exc))
        return problem(
            request,
            400,
            msg("the request body is not valid JSON: {reason}", reason=reason),
            slug="malformed-json",
            errors=[FieldError(detail=reason, pointer="")],
        )
    error = msgspec_field_error(str(exc))
    if error.detail.startswith(_ENUM_MESSAGES) and error.pointer is not None:
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in error.pointer.split("/")[1:]]
        error = FieldError(
            with_allowed_values(error.detail, _annotation(request, "data"), tokens), error.pointer
        )
    return problem(
        request,
        400,
        msg(
            "the request body is invalid at '{pointer}': {reason}",
            pointer=error.pointer or "/",
            reason=error.detail,
        ),
        slug="validation",
        title=msg("Request is invalid"),
        errors=[error],
    )


def _wire_name(request: Request, key: str) -> str:
    """A parameter as the client sends it (`from`), not the handler's argument (`from_version`)."""
    handler = request.scope.get("route_handler")
    field = handler.parsed_fn_signature.parameters.get(key) if handler is not None else None
    kwarg = field.kwarg_definition if field is not None else None
    return getattr(kwarg, "name", None) or key


def on_validation_exception(request: Request, exc: ValidationException) -> Response[Problem]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, source = str(item.get("key", "")), item.get("source")
        message = msgspec_message(str(item.get("message", "")))
        if source == "body":
            errors.append(
                FieldError(
                    detail=message,
                    pointer="/" + "/".join(escape_pointer_token(k) for k in key.split(".") if k),
                )
            )
        else:
            message = with_allowed_values(message, _annotation(request, key), [])
            errors.append(FieldError(detail=message, parameter=_wire_name(request, key)))
    named = ", ".join(e.parameter or e.pointer or "" for e in errors)
    return problem(
        request,
        400,
        msg("invalid {names}", names=named) if named else msgspec_message(exc.detail),
        slug="validation",
        title=msg("Request is invalid"),
        errors=errors,
    )


def on_invalid_token(request: Request, exc: InvalidToken | NotAuthorizedException) -> Response[Problem]:
    reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # keeps a Message
    detail = (exc.detail if isinstance(exc, HTTPException) else reason) or msg("authentication required")
    header = 'Bearer realm="assess"' + (', error="invalid_token"' if isinstance(exc, InvalidToken) else "")
    return problem(request, 401, detail, headers={"WWW-Authenticate": header})


def on_tenant_suspended(request: Request, exc: TenantSuspended) -> Response[Problem]:
    return problem(request, 403, msg("this tenant is suspended"), slug="tenant-suspended")


def _http_detail(status: int, detail: str) -> str:
    """Litestar's own details are the status's reason phrase ("Not Found"): the translated title instead."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return detail
    return _TITLES.get(status, detail) if detail.lower() == phrase.lower() else detail


def on_http_exception(request: Request, exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    detail = _http_detail(status, exc.detail) if status < 500 else _TITLES.get(status, msg("Server error"))
    if status == 413:
        detail = msg("the request body is larger than this service accepts")
    return problem(request, status, detail, headers=exc.headers)


def on_unique_violation(request: Request, exc: asyncpg.UniqueViolationError) -> Response[Problem]:
    constraint = exc.constraint_name or ""
    pointer = UNIQUE_FIELDS.get(constraint, "")
    field = pointer.lstrip("/") or "key"
    return problem(
        request,
        409,
        msg("a record with this {field} already exists", field=field),
        slug="already-exists",
        errors=[FieldError(detail=msg("already exists"), pointer=pointer)],
    )


# Retry in a moment: the database is unreachable, restarting, out of connections, or chose this
# transaction as a deadlock or serialization victim. The transaction did not commit, except when
# the connection died during the COMMIT itself: then it may have (bench/faults.py sees such
# saves, found stored by their retry), so the answer does not claim that nothing changed.
_RETRYABLE_STATES = ("08", "53", "57P", "40")
RETRY_AFTER_SECONDS = 2


def on_unavailable(request: Request, exc: Exception) -> Response[Problem]:
    log.warning(
        "database unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc
    )
    return problem(
        request,
        503,
        msg(
            "the database is unavailable for a moment; retry (a change cut off while "
            "committing may already be saved: a retried save, start or submit finds it)"
        ),
        slug="database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def on_interface_error(request: Request, exc: asyncpg.InterfaceError) -> Response[Problem]:
    if isinstance(exc, asyncpg.DataError | asyncpg.exceptions.ClientConfigurationError):
        return on_unexpected(request, exc)  # a value our code passed wrongly: a bug, not an outage
    return on_unavailable(request, exc)


def on_postgres_error(request: Request, exc: asyncpg.PostgresError) -> Response[Problem]:
    state = getattr(exc, "sqlstate", "") or ""
    if state.startswith(_RETRYABLE_STATES) or (
        state == "55000" and "not currently accepting connections" in str(exc)
    ):
        return on_unavailable(request, exc)  # (the latter: a database closed to connections for maintenance)
    if state.startswith("23"):  # integrity: a check or foreign key we did not catch before writing
        log.warning("integrity error %s on %s: %s", state, request.url.path, exc)
        return problem(request, 409, msg("the change conflicts with existing data"), slug="integrity")
    if state == "55000":  # a published framework version's guard trigger refused the change
        return problem(request, 409, msg("this object can no longer change"), slug="immutable")
    if state.startswith("22"):  # data exception: a value PostgreSQL could not take
        return problem(
            request, 400, msg("a value in the request is out of range or malformed"), slug="bad-value"
        )
    return on_unexpected(request, exc)


def _unavailable(exc: BaseException | None) -> bool:
    """Whether this error means the database is unreachable or restarting (what `on_unavailable` answers)."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state.startswith(_RETRYABLE_STATES) or (
            state == "55000" and "not currently accepting" in str(exc)
        )
    if isinstance(exc, asyncpg.InterfaceError):
        return not isinstance(exc, asyncpg.DataError | asyncpg.exceptions.ClientConfigurationError)
    return isinstance(exc, OSError | asyncpg.InternalClientError)


def on_exception_group(request: Request, exc: ExceptionGroup) -> Response[Problem]:
    """Litestar raises an ExceptionGroup, caused by the request's own error, when a dependency's
    clean-up fails after that error: the rollback on a connection that just died, or the commit of
    a change the error keeps. When the database is the cause of either: 503 with Retry-After, as
    for the error itself, not 500."""
    leaves: list[BaseException] = list(exc.exceptions)
    while any(isinstance(e, BaseExceptionGroup) for e in leaves):
        leaves = [
            leaf for e in leaves for leaf in (e.exceptions if isinstance(e, BaseExceptionGroup) else [e])
        ]
    if _unavailable(exc.__cause__) or any(_unavailable(e) for e in leaves):
        return on_unavailable(request, exc.__cause__ if _unavailable(exc.__cause__) else leaves[0])  # type: ignore[arg-type]  # _unavailable holds of Exceptions only
    return on_unexpected(request, exc)


def on_unexpected(request: Request, exc: Exception) -> Response[Problem]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request, HTTP_500_INTERNAL_SERVER_ERROR, msg("an unexpected error occurred; it has been logged")
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: on_domain_error,
    msgspec.MsgspecError: on_body_error,
    ValidationException: on_validation_exception,
    InvalidToken: on_invalid_token,
    NotAuthorizedException: on_invalid_token,
    TenantSuspended: on_tenant_suspended,
    HTTPException: on_http_exception,
    asyncpg.UniqueViolationError: on_unique_violation,
    asyncpg.PostgresError: on_postgres_error,
    # the pool cannot reach the server (OSError covers refused connections and timeouts), or a
    # connection died under a request
    asyncpg.InterfaceError: on_interface_error,
    # "cannot switch to state N; another operation (2) is in progress": the server's FATAL message
    # (terminated, shutting down) arrived on a pooled connection before its end did; nothing was sent
    asyncpg.InternalClientError: on_unavailable,
    OSError: on_unavailable,
    ExceptionGroup: on_exception_group,
    Exception: on_unexpected,
}
