"""POST /oauth/token: the OAuth 2.0 client credentials grant (RFC 6749 §4.4) for service clients.

The one route whose errors are not problem+json: RFC 6749 §5.2 prescribes its own JSON error
body, which OAuth client libraries parse. Every error of this route has it, 429 and 5xx included:
a client library (authlib) stores a body without `error` as if it were the token. The form is read
here, not by Litestar, so that every malformed request gets that body too.

Limits (service/auth/limits.py, shared by all workers and hosts): failed authentications per
source address and in total, checked before the client is looked up; tokens issued per client,
counted only once the secret is right. Answers carry `RateLimit-Policy` / `RateLimit` headers.
The source address is the connection's peer; behind a reverse proxy set TRUSTED_PROXIES.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus
from uuid import UUID

import msgspec
from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from service.api.auth import PUBLIC
from service.api.problems import EXCEPTION_HANDLERS, Problem
from service.api.runtime import runtime
from service.auth.issue import issue_client_token
from service.auth.limits import Decision, TokenEndpointLimits
from service.auth.principal import CLIENT_SCOPES
from service.clients.clients import ClientAuthFailed, ScopeRefused, authenticate_client

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_scope",
    "unsupported_grant_type",
    "slow_down",
    "server_error",
    "temporarily_unavailable",
]


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthError(msgspec.Struct):
    error: OAuthErrorCode
    error_description: str


class _Refused(Exception):
    def __init__(
        self,
        error: OAuthErrorCode,
        description: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error, self.description = error, description
        self.status = status or (401 if error == "invalid_client" else 400)
        self.headers = headers or {}


def _too_many(decision: Decision, what: str) -> _Refused:
    limit = decision.limit
    return _Refused(
        "slow_down",
        f"{what} are limited to {limit.rate:g} per second (bursts of {limit.burst:g}); "
        f"retry in {decision.retry_after} s",
        429,
        {"Retry-After": str(decision.retry_after), **decision.headers()},
    )


def source_address(request: Request, trusted_proxies: frozenset[str]) -> str:
    """The connection's peer, or, when the peer is a trusted proxy, the last X-Forwarded-For address."""
    peer = request.client.host if request.client else ""
    if peer in trusted_proxies:
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
        if forwarded:
            return forwarded[-1]
    return peer


_PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})
MAX_FORM_FIELDS = 20


def _form(request: Request, body: bytes) -> dict[str, str]:
    """The form's parameters. RFC 6749 §3.1: unrecognized ones are ignored, none may repeat, and one
    without a value counts as omitted."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise _Refused("invalid_request", f"send the parameters as {FORM}")
    try:
        pairs = parse_qsl(
            body.decode(), keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:  # also UnicodeDecodeError
        raise _Refused("invalid_request", "the form is malformed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            continue
        if name in form:
            raise _Refused("invalid_request", f"parameter '{name}' is repeated")
        form[name] = value
    return {name: value for name, value in form.items() if value}


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the body (RFC 6749 §2.3.1), never both."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    in_body = "client_id" in form or "client_secret" in form
    if scheme:
        if in_body:
            raise _Refused(
                "invalid_request",
                "authenticate with HTTP Basic or with client_id and client_secret in the body, not both",
            )
        if scheme.lower() != "basic":
            raise _Refused("invalid_client", "authenticate with HTTP Basic")
        try:
            client_id, colon, secret = (
                base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            colon = ""
        if not colon:
            raise _Refused("invalid_client", "malformed Basic credentials")
        return unquote_plus(client_id), unquote_plus(secret)
    if "client_secret" in form and "client_id" not in form:
        raise _Refused("invalid_request", "client_secret without client_id")
    if "client_id" not in form or "client_secret" not in form:
        raise _Refused("invalid_client", "client authentication is required")
    return form["client_id"], form["client_secret"]


def _client_uuid(client_id: str) -> UUID:
    try:
        return UUID(client_id)
    except ValueError:  # no client of ours: answered like a wrong secret
        raise ClientAuthFailed("client authentication failed") from None


async def _issue(request: Request) -> tuple[TokenResponse, dict[str, str]]:
    form = _form(request, await request.body())
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise _Refused("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise _Refused("unsupported_grant_type", "only grant_type=client_credentials is supported")
    client_id, secret = _credentials(request, form)
    state = runtime(request)
    limits: TokenEndpointLimits = state.token_limits
    address = source_address(request, state.settings.trusted_proxies)
    admission = await limits.admit(address)
    if admission.refused is not None:
        raise _too_many(
            admission.refused,
            "failed client authentications from this address"
            if admission.refused.limit is limits.per_address
            else "failed client authentications",
        )
    try:
        grant = await authenticate_client(state.pool, _client_uuid(client_id), secret, form.get("scope"))
    except ClientAuthFailed as exc:  # the reserved failure stays taken
        raise _Refused("invalid_client", str(exc)) from None
    except ScopeRefused as exc:
        await limits.succeeded(admission)
        raise _Refused("invalid_scope", str(exc)) from None
    issued = await limits.issue(str(grant.client_id), admission)
    if issued is not None and not issued.allowed:
        raise _too_many(issued, "tokens issued to a client")
    ttl = state.settings.client_token_seconds
    token = issue_client_token(
        state.keys,
        issuer=state.settings.service_issuer,
        audience=state.settings.service_audience,
        client_id=grant.client_id,
        tenant_id=grant.tenant_id,
        scopes=grant.scopes,
        ttl_seconds=ttl,
    )
    return TokenResponse(token, "Bearer", ttl, " ".join(grant.scopes)), issued.headers() if issued else {}


_FORM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["grant_type"],
    max_properties=MAX_FORM_FIELDS,
    properties={
        "grant_type": Schema(type=OpenAPIType.STRING, enum=["client_credentials"]),
        "scope": Schema(
            type=OpenAPIType.STRING,
            description="Space-separated subset of the client's scopes "
            f"({', '.join(CLIENT_SCOPES)}); omitted: all of them",
        ),
        "client_id": Schema(type=OpenAPIType.STRING, description="Only without HTTP Basic"),
        "client_secret": Schema(type=OpenAPIType.STRING, description="Only without HTTP Basic"),
    },
)


@dataclass
class _TokenOperation(Operation):
    """Documents the form body, which the handler reads itself, and how the client authenticates."""

    def __post_init__(self) -> None:
        # The client authenticates with HTTP Basic, or with its id and secret in the form (RFC 6749 §2.3.1).
        self.security = [{"clientBasic": []}, {}]
        self.request_body = RequestBody(content={FORM: OpenAPIMediaType(schema=_FORM_SCHEMA)}, required=True)


_ERRORS = {
    400: ResponseSpec(
        OAuthError,
        media_type="application/json",
        generate_examples=False,
        description="RFC 6749 §5.2 error: invalid_request, invalid_scope or unsupported_grant_type",
    ),
    401: ResponseSpec(
        OAuthError,
        media_type="application/json",
        generate_examples=False,
        description="RFC 6749 §5.2 error invalid_client (with WWW-Authenticate: Basic): unknown "
        "or revoked client, wrong secret, or no client authentication",
    ),
    429: ResponseSpec(
        OAuthError,
        media_type="application/json",
        generate_examples=False,
        description="RFC 6749 §5.2 error slow_down, with Retry-After and RateLimit headers: too "
        "many tokens for this client (TOKEN_RATE_PER_SECOND), or too many failed "
        "authentications from this address. Keep the token until it nearly expires.",
    ),
    413: ResponseSpec(
        OAuthError,
        media_type="application/json",
        generate_examples=False,
        description="RFC 6749 §5.2 error invalid_request: the body is larger than MAX_BODY_BYTES",
    ),
    503: ResponseSpec(
        OAuthError,
        media_type="application/json",
        generate_examples=False,
        description="RFC 6749 §5.2 error temporarily_unavailable, with Retry-After: the database "
        "is unavailable for a moment",
    ),
}


def _refusal(_: Request, refused: _Refused) -> Response[OAuthError]:
    headers = {**NO_STORE, **refused.headers}
    if refused.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="assess"'
    return Response(
        OAuthError(refused.error, refused.description), status_code=refused.status, headers=headers
    )


def _app_handler(exc: Exception) -> Any:
    for kind in type(exc).__mro__:
        if kind in EXCEPTION_HANDLERS:
            return EXCEPTION_HANDLERS[kind]
    return EXCEPTION_HANDLERS[Exception]


def _other_error(request: Request, exc: Exception) -> Response[OAuthError]:
    """Any other error of this route (413 body too large, the database unavailable, a bug) in RFC
    6749's shape: the app's own handler decides status, detail, headers and logging; only the body
    changes (`invalid_request` for 4xx, `temporarily_unavailable` for 503, else `server_error`)."""
    answer = _app_handler(exc)(request, exc)
    status = answer.status_code
    detail = answer.content.detail if isinstance(answer.content, Problem) else "the token could not be issued"
    error: OAuthErrorCode = (
        "invalid_request" if status < 500 else "temporarily_unavailable" if status == 503 else "server_error"
    )
    headers = {k: v for k, v in (answer.headers or {}).items() if k.lower() != "content-type"}
    return _refusal(request, _Refused(error, detail, status, headers))


@post(
    "/oauth/token",
    operation_id="issueClientToken",
    opt=PUBLIC,
    security=[],
    tags=["auth"],
    status_code=200,
    operation_class=_TokenOperation,
    responses=_ERRORS,
    # every class the app-wide handlers name too: the most specific handler wins, whatever its layer
    exception_handlers={**dict.fromkeys(EXCEPTION_HANDLERS, _other_error), _Refused: _refusal},
    summary="Client credentials grant: a service client's short-lived access token",
    description="RFC 6749 §4.4. Authenticate with HTTP Basic (client id and secret) or with `client_id` and "
    "`client_secret` in the form, not both. The token is a JWT signed by this service (keys at "
    "`/.well-known/jwks.json`), valid for CLIENT_TOKEN_SECONDS. Unlike every other route, errors "
    "are RFC 6749 §5.2 JSON (`error`, `error_description`), not problem+json: the RFC mandates it. "
    "Tokens issued per client and failed authentications per source address and in total are "
    "limited across all workers and hosts (429 `slow_down` with Retry-After); `RateLimit-Policy` "
    "and `RateLimit` headers (IETF draft) say how much is left.",
)
async def token(request: Request) -> Response[TokenResponse]:
    issued, headers = await _issue(request)
    return Response(issued, headers={**NO_STORE, **headers})
