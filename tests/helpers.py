"""Small builders the tests share: tokens, tenants, an external identity provider."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from service.auth.issue import issue_operator_token, issue_token
from service.auth.keys import ServiceKeys
from service.rubrics.model import FrameworkContent
from service.scoring import lean
from service.scoring.engine import ScoreDocument

ISSUER, AUDIENCE = "assess-service", "assess-api"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operator(keys: ServiceKeys) -> dict[str, str]:
    return bearer(issue_operator_token(keys, issuer=ISSUER, audience=AUDIENCE))


def user(keys: ServiceKeys, tenant_id: UUID | str, roles: list[str], sub: str = "someone") -> dict[str, str]:
    return bearer(
        issue_token(
            keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            kind="user",
            subject=sub,
            tenant_id=UUID(str(tenant_id)),
            roles=roles,
        )
    )


async def stored_document(conn: asyncpg.Connection, attempt_id: UUID | str) -> ScoreDocument:
    """The attempt's current score document as stored, whole as its readers give it (a lean one hydrated
    from its framework version), read past row-level security (as the owner) on any connection."""
    text = await conn.fetchval(
        "SELECT document::text FROM scores WHERE attempt_id = $1 AND current", UUID(str(attempt_id))
    )
    stored = lean.decode(text)
    if isinstance(stored, ScoreDocument):
        return stored
    content = await conn.fetchval(
        "SELECT content::text FROM framework_versions WHERE content_hash = $1 LIMIT 1",
        stored.provenance.framework_hash,
    )
    return lean.hydrate(stored, lean.FrameworkIndex(msgspec.json.decode(content, type=FrameworkContent)))


async def stored_json(conn: asyncpg.Connection, attempt_id: UUID | str) -> dict[str, Any]:
    """`stored_document` as the JSON object readers give."""
    found: dict[str, Any] = msgspec.to_builtins(await stored_document(conn, attempt_id))
    return found


async def make_tenant(
    client: httpx.AsyncClient, keys: ServiceKeys, slug: str, **extra: Any
) -> dict[str, Any]:
    """Create a tenant through the operator API; returns it with `admin` headers added."""
    response = await client.post(
        "/v1/tenants", json={"slug": slug, "name": slug.title(), **extra}, headers=operator(keys)
    )
    assert response.status_code == 201, response.text
    tenant = response.json()
    tenant["admin"] = user(keys, tenant["id"], ["tenant_admin"])
    return tenant


LOCK_WAITERS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def blocked_on_a_lock(watcher: asyncpg.Connection, task: asyncio.Task[Any], waiters: int = 1) -> bool:
    """Whether `task` is blocked on a lock: waits for the condition, not for a time, until `waiters`
    sessions of this test's database wait on a lock (pg_stat_activity, seen by `watcher`, a connection of
    neither racer; the test's database holds no other sessions; 2 for a second racer behind a first) and
    answers whether `task` is still running then. False if `task` ends first, or after 10 s."""
    for _ in range(2000):
        if task.done():
            return False
        if await watcher.fetchval(LOCK_WAITERS) >= waiters:
            return not task.done()
        await asyncio.sleep(0.005)
    return False


async def all_pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int = 500, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a keyset-paginated list, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return items


class IdentityProvider:
    """A region's own login system: an EC P-256 key pair that signs ES256 tokens."""

    def __init__(self, issuer: str, kid: str = "idp-key-1") -> None:
        self.issuer, self.kid = issuer, kid
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        return {
            **json.loads(ECAlgorithm.to_jwk(self.private_key.public_key())),
            "kid": self.kid,
            "alg": "ES256",
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(
        self,
        audience: str,
        sub: str = "cadre-1",
        *,
        lifetime: int = 600,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": audience, "sub": sub, "iat": now, "exp": now + lifetime, **claims}
        return jwt.encode(
            body, self.private_key, algorithm="ES256", headers={"kid": self.kid, **(headers or {})}
        )
