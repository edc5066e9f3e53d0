"""The demo mode's identity provider: a page of demo personas for the demo tenant, nothing else.

Mounted only when the service runs in demo mode (`assess serve --demo`, ASSESS_DEMO): without it
these routes do not exist at all (tests/test_console_auth.py). It plays the provider's side of the
console's authorization code + PKCE flow: choosing a persona redirects to the console's callback
with a code, and the code is exchanged (in-process, `exchange`) for an ID token signed with the
service keys, which the demo tenant's tokens are already verified with. The code is itself a
signed, one-minute token bound to the PKCE challenge, the nonce and the redirect URI, so any
worker can redeem it; its audience is one no API route accepts.
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

from service.auth.issue import issue_token
from service.auth.keys import SIGNING_ALGORITHM
from service.auth.principal import ANALYST, AUTHOR, RATER, TENANT_ADMIN
from service.console.oidc import PendingLogin, Provider, SignInFailed, s256
from service.console.web import origin, request_locale
from service.db.pool import auth_lookup_transaction
from service.demo import DEMO_SLUG
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


def provider() -> Provider:
    return Provider("demo", PATH + "/authorize", None, CLIENT_ID)


async def demo_tenant(pool: Any) -> UUID | None:
    async with auth_lookup_transaction(pool) as conn:
        return await tenants.id_by_slug(conn, DEMO_SLUG)


def _valid_request(request: Request, params: dict[str, str]) -> bool:
    redirect = urlsplit(params.get("redirect_uri", ""))
    return (
        all(params.get(name) for name in _PARAMS)
        and params.get("client_id") == CLIENT_ID
        and params.get("code_challenge_method", "S256") == "S256"
        and f"{redirect.scheme}://{redirect.netloc}" == origin(request)
        and redirect.path == "/console/callback"
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
        return Template(
            "demo_idp.html",
            context={
                "locale": request_locale(request),
                "personas": PERSONAS,
                "params": params,
                "session": None,
            },
        )

    @post("/authorize", status_code=303)
    async def choose(self, request: Request) -> Redirect:
        data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        persona = data.get("persona", "")
        if persona not in PERSONAS or not _valid_request(request, data):
            return Redirect("/console/login", status_code=303)
        now = int(time.time())
        code = request.app.state.runtime.keys.sign(
            {
                "aud": CODE_AUDIENCE,
                "iat": now,
                "exp": now + 60,
                "persona": persona,
                "nonce": data["nonce"],
                "challenge": data["code_challenge"],
                "redirect_uri": data["redirect_uri"],
                "jti": secrets.token_urlsafe(8),
            }
        )
        query = urlencode({"code": code, "state": data["state"]})
        return Redirect(f"{data['redirect_uri']}?{query}", status_code=303)


async def exchange(request: Request, code: str, pending: PendingLogin) -> str:
    """The token endpoint's work: check the code and the PKCE verifier, sign the persona's ID token."""
    runtime = request.app.state.runtime
    try:
        kid = jwt.get_unverified_header(code).get("kid")
        key = runtime.keys.find(kid) if isinstance(kid, str) else None
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
    if (
        claims.get("challenge") != s256(pending.verifier)
        or claims.get("redirect_uri") != pending.redirect_uri
    ):
        raise SignInFailed(msg("the demo sign-in code was issued for another sign-in"))
    tenant_id = await demo_tenant(runtime.pool)
    if tenant_id is None or tenant_id != pending.tenant_id:
        raise SignInFailed(msg("the demo provider signs in to the demo tenant only"))
    persona = claims["persona"]
    settings = runtime.settings
    return issue_token(
        runtime.keys,
        issuer=settings.service_issuer,
        audience=settings.service_audience,
        kind="user",
        subject=f"demo-{persona}",
        roles=PERSONAS[persona],
        tenant_id=tenant_id,
        ttl_seconds=300,
        extra_claims={"nonce": claims["nonce"]},
    )
