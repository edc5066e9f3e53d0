"""Tokens the service signs itself: operator tokens, demo tokens, and later HR service clients."""

from __future__ import annotations

import time
from uuid import UUID

from service.auth.keys import ServiceKeys
from service.auth.principal import OPERATOR, PrincipalKind


def issue_token(keys: ServiceKeys, *, issuer: str, audience: str, kind: PrincipalKind, subject: str,
                roles: list[str], tenant_id: UUID | None = None, ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now,
                                 "exp": now + ttl_seconds, "kind": kind, "roles": roles}
    if tenant_id is not None:
        claims["tenant"] = str(tenant_id)
    return keys.sign(claims)


def issue_operator_token(keys: ServiceKeys, *, issuer: str, audience: str, subject: str = "operator",
                         ttl_seconds: int = 3600) -> str:
    return issue_token(keys, issuer=issuer, audience=audience, kind="operator", subject=subject,
                       roles=[OPERATOR], ttl_seconds=ttl_seconds)
