"""Console sign-in: OpenID Connect authorization code flow with PKCE (S256), `state` and `nonce`.

The ID token is verified by the very verifier API bearer tokens go through
(service/auth/verify.py with the issuer directory): the same trusted issuers, keys, audience,
expiry and role mapping (`roles_claim`, `allowed_roles`), so the console cannot grant a role the
API would refuse. Only the nonce is checked here, after that verification.

What the flow must remember between the redirect out and the callback (state, nonce, PKCE
verifier, tenant) travels in a short-lived HttpOnly cookie signed with the service keys, with an
audience no API route accepts; so any worker can finish a sign-in another one started.

Providers: a tenant's trusted issuer with `discovery_url` and `console_client_id` set (a public
client: no secret; its ID tokens' `aud` is the console client id, so the issuer needs a
registration with that audience), or, in demo mode only, the built-in demo provider
(service/console/demo_idp.py), which is called in-process instead of over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
import jwt

from service.auth.keys import SIGNING_ALGORITHM, ServiceKeys
from service.db.pool import auth_lookup_transaction
from service.i18n import DEFAULT, SUPPORTED, msg
from service.tenancy import issuers

LOGIN_COOKIE = "assess_console_login"
LOGIN_AUDIENCE = "assess-console-login"  # never an API audience: this cookie is not a bearer token
LOGIN_SECONDS = 600


class SignInFailed(Exception):
    """The sign-in cannot be completed; the message says why, for the sign-in page."""


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Provider:
    kind: str  # "demo" or "oidc"
    authorization_endpoint: str
    token_endpoint: str | None
    client_id: str


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    verifier: str
    tenant_id: UUID
    redirect_uri: str
    locale: str  # the language chosen on the sign-in page: the new session's


def start(keys: ServiceKeys, tenant_id: UUID, redirect_uri: str, locale: str) -> tuple[PendingLogin, str]:
    """Fresh state, nonce and PKCE verifier; returns them and the signed cookie value that carries them."""
    pending = PendingLogin(
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(48),
        tenant_id,
        redirect_uri,
        locale,
    )
    now = int(time.time())
    cookie = keys.sign(
        {
            "aud": LOGIN_AUDIENCE,
            "iat": now,
            "exp": now + LOGIN_SECONDS,
            "state": pending.state,
            "nonce": pending.nonce,
            "verifier": pending.verifier,
            "tenant": str(tenant_id),
            "redirect_uri": redirect_uri,
            "locale": locale,
        }
    )
    return pending, cookie


def authorization_url(provider: Provider, pending: PendingLogin) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": pending.redirect_uri,
            "scope": "openid",
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": s256(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    return f"{provider.authorization_endpoint}?{query}"


def read_pending(keys: ServiceKeys, cookie: str | None, state: str | None) -> PendingLogin:
    """The login this callback finishes: the cookie must be ours, fresh, and name the same `state`."""
    if not cookie or not state:
        raise SignInFailed(msg("the sign-in expired or was started elsewhere: start again"))
    try:
        kid = jwt.get_unverified_header(cookie).get("kid")
        key = keys.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise SignInFailed(msg("the sign-in expired or was started elsewhere: start again"))
        claims = jwt.decode(
            cookie,
            key.public_key,
            algorithms=[SIGNING_ALGORITHM],
            audience=LOGIN_AUDIENCE,
            options={"require": ["exp", "aud"]},
        )
    except jwt.PyJWTError:
        raise SignInFailed(msg("the sign-in expired or was started elsewhere: start again")) from None
    if not secrets.compare_digest(str(claims["state"]).encode(), state.encode()):
        raise SignInFailed(msg("the sign-in answer does not belong to this sign-in: start again"))
    locale = claims.get("locale")
    return PendingLogin(
        claims["state"],
        claims["nonce"],
        claims["verifier"],
        UUID(claims["tenant"]),
        claims["redirect_uri"],
        locale if locale in SUPPORTED else DEFAULT,
    )


def check_nonce(id_token: str, pending: PendingLogin) -> None:
    """After the verifier accepted the token's signature: its `nonce` must be the one this sign-in sent."""
    nonce = jwt.decode(id_token, options={"verify_signature": False}).get("nonce")
    if not isinstance(nonce, str) or not secrets.compare_digest(nonce.encode(), pending.nonce.encode()):
        raise SignInFailed(msg("the identity provider's answer does not belong to this sign-in"))


async def tenant_provider(pool: Any, tenant_id: UUID) -> Provider | None:
    """The tenant's identity provider for the console, from its discovery document; None when none is set up."""
    async with auth_lookup_transaction(pool) as conn:
        row = await issuers.console_sign_in(conn, tenant_id)
    if row is None:
        return None
    try:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
            response = await client.get(row["discovery_url"], headers={"accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        return Provider(
            "oidc",
            str(document["authorization_endpoint"]),
            str(document["token_endpoint"]),
            row["console_client_id"],
        )
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        error = type(exc).__name__
        raise SignInFailed(msg("the identity provider cannot be reached: {error}", error=error)) from None


async def exchange(provider: Provider, code: str, pending: PendingLogin) -> str:
    """The ID token for an authorization code (RFC 6749 4.1.3 with the PKCE verifier, public client)."""
    assert provider.token_endpoint is not None
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
            response = await client.post(
                provider.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": pending.redirect_uri,
                    "client_id": provider.client_id,
                    "code_verifier": pending.verifier,
                },
            )
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise SignInFailed(msg("the identity provider's token endpoint did not answer")) from None
    if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
        raise SignInFailed(msg("the identity provider refused the sign-in"))
    id_token = body.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed(msg("the identity provider sent no ID token"))
    return id_token
