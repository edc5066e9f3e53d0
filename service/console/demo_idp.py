"""The demo mode's identity provider: a page of demo personas for the demo tenant, nothing else.

Mounted only when the service runs in demo mode (`assess serve --demo`, ASSESS_DEMO): without it
these routes do not exist at all (tests/test_console_auth.py). It plays the provider's side of the
console's authorization code + PKCE flow: choosing a persona redirects to the console's callback
with a code, and the code is exchanged (in-process, `exchange`) for an ID token signed with the
service keys, which the demo tenant's tokens are already verified with. The code is itself a
signed, one-minute token bound to the PKCE challenge, the nonce and the redirect URI, so any
worker can redeem it; its audience is one no API route accepts.

It also signs candidates in to the reference candidate client at `/take` (service/console/take.py), a
public client (`assess-take`) doing the code flow with PKCE in the browser: its redirect URI must be
`/take/` on this origin, its personas are the demo tenant's candidates, and it redeems the code at
`POST /console/demo-idp/token` (RFC 6749 4.1.3, `code_verifier` instead of a secret), which answers
with a candidate bearer token for the API. Like the rest of this module it exists only in demo mode.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import jwt
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from service.api.runtime import runtime
from service.auth.issue import issue_token
from service.auth.keys import SIGNING_ALGORITHM
from service.auth.principal import ANALYST, AUTHOR, CANDIDATE, RATER, TENANT_ADMIN
from service.console.oidc import PendingLogin, Provider, SignInFailed, s256
from service.console.web import origin, request_locale
from service.db.pool import auth_lookup_transaction
from service.demo import DEMO_CANDIDATE, DEMO_SLUG, DEMO_TEACHER
from service.i18n import msg
from service.tenancy import tenants

PATH = "/console/demo-idp"
CODE_AUDIENCE = "assess-console-demo-code"
CLIENT_ID = "assess-console"
# persona -> roles. Subjects are `demo-<persona>`.
PERSONAS: dict[str, list[str]] = {
    "admin": [TENANT_ADMIN, AUTHOR, ANALYST],
    "author": [AUTHOR],
    "rater": [RATER],
    "analyst": [ANALYST],
}
_PARAMS = ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
# The candidate client at /take: a public client; its personas are demo people (subject = external id).
TAKE_CLIENT_ID = "assess-take"
TAKE_REDIRECT_PATH = "/take/"
TAKE_PERSONAS: dict[str, list[str]] = {DEMO_CANDIDATE: [CANDIDATE], DEMO_TEACHER: [CANDIDATE]}
TAKE_TOKEN_SECONDS = 4 * 3600  # a sitting's length: the client has no refresh token
_REDIRECTS = {CLIENT_ID: "/console/callback", TAKE_CLIENT_ID: TAKE_REDIRECT_PATH}


def _personas(client_id: str) -> dict[str, list[str]]:
    return TAKE_PERSONAS if client_id == TAKE_CLIENT_ID else PERSONAS


def _subject(client_id: str, persona: str) -> str:
    return persona if client_id == TAKE_CLIENT_ID else f"demo-{persona}"


def provider() -> Provider:
    return Provider("demo", PATH + "/authorize", None, CLIENT_ID)


async def demo_tenant(pool: Any) -> UUID | None:
    async with auth_lookup_transaction(pool) as conn:
        return await tenants.id_by_slug(conn, DEMO_SLUG)


def _valid_request(request: Request, params: dict[str, str]) -> bool:
    redirect = urlsplit(params.get("redirect_uri", ""))
    return (
        all(params.get(name) for name in _PARAMS)
        and params.get("client_id") in _REDIRECTS
        and params.get("code_challenge_method", "S256") == "S256"
        and f"{redirect.scheme}://{redirect.netloc}" == origin(request)
        and redirect.path == _REDIRECTS[params["client_id"]]
        and not redirect.query
    )


class DemoIdentityProvider(Controller):
    path = PATH
    opt = {"exclude_from_auth": True, "console_public": True}
    include_in_schema = False

    @get("/authorize")
    async def authorize_page(self, request: Request) -> Template | Response[str]:
        params = {name: request.query_params.get(name, "") for name in (*_PARAMS, "code_challenge_method")}
        if not _valid_request(request, params):
            return Response("invalid authorization request", status_code=400, media_type="text/plain")
        personas = _personas(params["client_id"])
        return Template(
            "demo_idp.html",
            context={
                "locale": request_locale(request),
                "personas": personas,
                "subjects": {p: _subject(params["client_id"], p) for p in personas},
                "params": params,
                "session": None,
            },
        )

    @post("/authorize", status_code=303)
    async def choose(self, request: Request) -> Redirect:
        data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        persona = data.get("persona", "")
        if not _valid_request(request, data) or persona not in _personas(data["client_id"]):
            return Redirect("/console/login", status_code=303)
        now = int(time.time())
        code = runtime(request).keys.sign(
            {
                "aud": CODE_AUDIENCE,
                "iat": now,
                "exp": now + 60,
                "persona": persona,
                "client_id": data["client_id"],
                "nonce": data["nonce"],
                "challenge": data["code_challenge"],
                "redirect_uri": data["redirect_uri"],
                "jti": secrets.token_urlsafe(8),
            }
        )
        query = urlencode({"code": code, "state": data["state"]})
        return Redirect(f"{data['redirect_uri']}?{query}", status_code=303)


def _read_code(request: Request, code: str) -> dict[str, Any]:
    state = runtime(request)
    try:
        kid = jwt.get_unverified_header(code).get("kid")
        key = state.keys.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise SignInFailed(msg("unknown code"))
        claims = jwt.decode(
            code,
            key.public_key,
            algorithms=[SIGNING_ALGORITHM],
            audience=CODE_AUDIENCE,
            options={"require": ["exp", "aud"]},
        )
    except jwt.PyJWTError:
        raise SignInFailed(msg("the demo sign-in code is invalid or expired")) from None
    return claims


async def exchange(request: Request, code: str, pending: PendingLogin) -> str:
    """The token endpoint's work: check the code and the PKCE verifier, sign the persona's ID token."""
    state = runtime(request)
    claims = _read_code(request, code)
    if (
        claims.get("client_id", CLIENT_ID) != CLIENT_ID
        or claims.get("challenge") != s256(pending.verifier)
        or claims.get("redirect_uri") != pending.redirect_uri
    ):
        raise SignInFailed(msg("the demo sign-in code was issued for another sign-in"))
    tenant_id = await demo_tenant(state.pool)
    if tenant_id is None or tenant_id != pending.tenant_id:
        raise SignInFailed(msg("the demo provider signs in to the demo tenant only"))
    persona = claims["persona"]
    settings = state.settings
    return issue_token(
        state.keys,
        issuer=settings.service_issuer,
        audience=settings.service_audience,
        kind="user",
        subject=f"demo-{persona}",
        roles=PERSONAS[persona],
        tenant_id=tenant_id,
        ttl_seconds=300,
        extra_claims={"nonce": claims["nonce"]},
    )


class TakeTokenEndpoint(Controller):
    """`POST /console/demo-idp/token` for the candidate client at /take (a public client with PKCE)."""

    path = PATH
    opt = {"exclude_from_auth": True, "console_public": True}
    include_in_schema = False

    @post("/token", status_code=200)
    async def token(self, request: Request) -> Response[dict[str, Any]]:
        data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        state = runtime(request)

        def refused(error: str, description: str) -> Response[dict[str, Any]]:
            return Response(
                {"error": error, "error_description": description},
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )

        if data.get("grant_type") != "authorization_code":
            return refused("unsupported_grant_type", "authorization_code only")
        if data.get("client_id") != TAKE_CLIENT_ID:
            return refused("invalid_client", "this endpoint serves the /take client only")
        try:
            claims = _read_code(request, data.get("code", ""))
        except SignInFailed:
            return refused("invalid_grant", "the code is invalid or expired")
        verifier = data.get("code_verifier", "")
        if (
            claims.get("client_id") != TAKE_CLIENT_ID
            or not verifier
            or not secrets.compare_digest(str(claims.get("challenge", "")), s256(verifier))
            or claims.get("redirect_uri") != data.get("redirect_uri")
            or claims.get("persona") not in TAKE_PERSONAS
        ):
            return refused("invalid_grant", "the code was issued for another sign-in")
        tenant_id = await demo_tenant(state.pool)
        if tenant_id is None:
            return refused("invalid_grant", "the demo tenant is not seeded")
        settings = state.settings
        token = issue_token(
            state.keys,
            issuer=settings.service_issuer,
            audience=settings.service_audience,
            kind="user",
            subject=claims["persona"],
            roles=TAKE_PERSONAS[claims["persona"]],
            tenant_id=tenant_id,
            ttl_seconds=TAKE_TOKEN_SECONDS,
            extra_claims={"nonce": claims["nonce"]},
        )
        return Response(
            {
                "access_token": token,
                "id_token": token,
                "token_type": "Bearer",
                "expires_in": TAKE_TOKEN_SECONDS,
            },
            headers={"Cache-Control": "no-store"},
        )
