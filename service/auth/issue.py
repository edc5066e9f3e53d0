"""Tokens the service signs itself: operator tokens, demo tokens, and HR service clients' access tokens."""

from __future__ import annotations

import secrets
import time
from uuid import UUID

from service.auth.keys import ServiceKeys
from service.auth.principal import HR_CLIENT, OPERATOR, PrincipalKind


def issue_token(
    keys: ServiceKeys,
    *,
    issuer: str,
    audience: str,
    kind: PrincipalKind,
    subject: str,
    roles: list[str],
    tenant_id: UUID | None = None,
    ttl_seconds: int = 3600,
    extra_claims: dict[str, object] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "kind": kind,
        "roles": roles,
    }
    if tenant_id is not None:
        claims["tenant"] = str(tenant_id)
    return keys.sign({**(extra_claims or {}), **claims})


def issue_operator_token(
    keys: ServiceKeys, *, issuer: str, audience: str, subject: str = "operator", ttl_seconds: int = 3600
) -> str:
    return issue_token(
        keys,
        issuer=issuer,
        audience=audience,
        kind="operator",
        subject=subject,
        roles=[OPERATOR],
        ttl_seconds=ttl_seconds,
    )


def issue_client_token(
    keys: ServiceKeys,
    *,
    issuer: str,
    audience: str,
    client_id: UUID,
    tenant_id: UUID,
    scopes: list[str],
    ttl_seconds: int,
) -> str:
    """An RFC 9068-shaped access token for a service client: `sub` and `client_id` are the client, `scope` its grant."""
    return issue_token(
        keys,
        issuer=issuer,
        audience=audience,
        kind="client",
        subject=str(client_id),
        roles=[HR_CLIENT],
        tenant_id=tenant_id,
        ttl_seconds=ttl_seconds,
        extra_claims={
            "scope": " ".join(scopes),
            "client_id": str(client_id),
            "jti": secrets.token_urlsafe(16),
        },
    )
