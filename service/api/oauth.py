"""POST /oauth/token: the OAuth 2.0 client credentials grant (RFC 6749 §4.4) for service clients.

The one route whose errors are not problem+json: RFC 6749 §5.2 prescribes its own JSON error
body, which OAuth client libraries parse. The form is read here, not by Litestar, so that every
malformed request gets that body too.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote_plus
from uuid import UUID

import msgspec
from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from service.api.auth import PUBLIC
from service.api.problems import PROBLEM_MEDIA_TYPE, Problem
from service.api.ratelimit import throttle
from service.auth.issue import issue_client_token
from service.auth.principal import CLIENT_SCOPES
from service.i18n import msg
from service.clients.clients import ClientAuthFailed, ScopeRefused, authenticate_client

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAuthErrorCode = Literal["invalid_request", "invalid_client", "invalid_scope", "unsupported_grant_type"]


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthError(msgspec.Struct):
    error: OAuthErrorCode
    error_description: str


class _Refused(Exception):
    def __init__(self, error: OAuthErrorCode, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


_PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})
MAX_FORM_FIELDS = 20


def _form(request: Request, body: bytes) -> dict[str, str]:
    """The form's parameters. RFC 6749 §3.1: unrecognized ones are ignored, none may repeat, and one
    without a value counts as omitted."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise _Refused("invalid_request", f"send the parameters as {FORM}")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
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
            raise _Refused("invalid_request", "authenticate with HTTP Basic or with client_id and client_secret "
                                              "in the body, not both")
        if scheme.lower() != "basic":
            raise _Refused("invalid_client", "authenticate with HTTP Basic")
        try:
            client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
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


async def _issue(request: Request) -> TokenResponse:
    form = _form(request, await request.body())
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise _Refused("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise _Refused("unsupported_grant_type", "only grant_type=client_credentials is supported")
    client_id, secret = _credentials(request, form)
    throttle(getattr(request.app.state, "token_rate_limiter", None), client_id[:64],
             msg("token requests of a client"))
    runtime = request.app.state.runtime
    try:
        grant = await authenticate_client(runtime.pool, _client_uuid(client_id), secret, form.get("scope"))
    except ClientAuthFailed as exc:
        raise _Refused("invalid_client", str(exc)) from None
    except ScopeRefused as exc:
        raise _Refused("invalid_scope", str(exc)) from None
    ttl = runtime.settings.client_token_seconds
    token = issue_client_token(runtime.keys, issuer=runtime.settings.service_issuer,
                               audience=runtime.settings.service_audience, client_id=grant.client_id,
                               tenant_id=grant.tenant_id, scopes=grant.scopes, ttl_seconds=ttl)
    return TokenResponse(token, "Bearer", ttl, " ".join(grant.scopes))


_FORM_SCHEMA = Schema(type=OpenAPIType.OBJECT, required=["grant_type"], max_properties=MAX_FORM_FIELDS, properties={
    "grant_type": Schema(type=OpenAPIType.STRING, enum=["client_credentials"]),
    "scope": Schema(type=OpenAPIType.STRING, description="Space-separated subset of the client's scopes "
                    f"({', '.join(CLIENT_SCOPES)}); omitted: all of them"),
    "client_id": Schema(type=OpenAPIType.STRING, description="Only without HTTP Basic"),
    "client_secret": Schema(type=OpenAPIType.STRING, description="Only without HTTP Basic"),
})


@dataclass
class _TokenOperation(Operation):
    """Documents the form body, which the handler reads itself, and how the client authenticates."""

    def __post_init__(self) -> None:
        # The client authenticates with HTTP Basic, or with its id and secret in the form (RFC 6749 §2.3.1).
        self.security = [{"clientBasic": []}, {}]
        self.request_body = RequestBody(content={FORM: OpenAPIMediaType(schema=_FORM_SCHEMA)}, required=True)


_ERRORS = {
    400: ResponseSpec(OAuthError, media_type="application/json", generate_examples=False,
                      description="RFC 6749 §5.2 error: invalid_request, invalid_scope or unsupported_grant_type"),
    401: ResponseSpec(OAuthError, media_type="application/json", generate_examples=False,
                      description="RFC 6749 §5.2 error invalid_client (with WWW-Authenticate: Basic): unknown "
                                  "or revoked client, wrong secret, or no client authentication"),
    429: ResponseSpec(Problem, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False,
                      description="Too many token requests for this client id (TOKEN_RATE_PER_SECOND): "
                                  "problem+json with Retry-After. Keep the token until it nearly expires."),
}


def _refusal(_: Request, refused: _Refused) -> Response[OAuthError]:
    headers = {**NO_STORE, "WWW-Authenticate": 'Basic realm="assess"'} if refused.error == "invalid_client" else NO_STORE
    return Response(OAuthError(refused.error, refused.description),
                    status_code=401 if refused.error == "invalid_client" else 400, headers=headers)


@post("/oauth/token", operation_id="issueClientToken", opt=PUBLIC, security=[], tags=["auth"], status_code=200,
      operation_class=_TokenOperation, responses=_ERRORS, exception_handlers={_Refused: _refusal},
      summary="Client credentials grant: a service client's short-lived access token",
      description="RFC 6749 §4.4. Authenticate with HTTP Basic (client id and secret) or with `client_id` and "
                  "`client_secret` in the form, not both. The token is a JWT signed by this service (keys at "
                  "`/.well-known/jwks.json`), valid for CLIENT_TOKEN_SECONDS. Unlike every other route, errors "
                  "are RFC 6749 §5.2 JSON (`error`, `error_description`), not problem+json: the RFC mandates it.")
async def token(request: Request) -> Response[TokenResponse]:
    return Response(await _issue(request), headers=NO_STORE)
