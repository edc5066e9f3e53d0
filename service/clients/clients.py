"""Service clients: a tenant's machines (HR systems), their scopes and their secrets.

A secret is shown once, when it is made (create, rotate). Only its SHA-256 is kept: secrets are
256 random bits, so a fast hash is enough, and a slow one would only slow the token endpoint.
A rotation keeps the previous secret valid for `grace_seconds` (default 24 h) so the HR system
can switch over without downtime; there is one previous secret, so rotating again ends the
earlier grace at once. Revocation is final: the next token request fails, and the verifier
refuses the client's outstanding tokens (see service/auth/verify.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

import asyncpg
import msgspec

from service.auth.principal import CLIENT_SCOPES
from service.db import keyset
from service.db.pool import auth_lookup_transaction, tenant_transaction
from service.errors import Conflict, NotFound
from service.i18n import msg
from service.tenancy import tenants
from service.tenancy.fields import Name

ClientScope = Literal["people:write", "org-units:write", "scores:read", "aggregates:read", "webhooks:manage"]
assert get_args(ClientScope) == CLIENT_SCOPES

DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600


class ClientCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    scopes: Annotated[
        list[ClientScope],
        msgspec.Meta(
            min_length=1, max_length=len(CLIENT_SCOPES), description="What the client's tokens may do"
        ),
    ]


class ClientRotate(msgspec.Struct, forbid_unknown_fields=True):
    grace_seconds: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_GRACE_SECONDS,
            description="How long the previous secret keeps working (0: not at all)",
        ),
    ] = DEFAULT_GRACE_SECONDS


class ServiceClient(msgspec.Struct):
    id: UUID
    name: str
    scopes: list[str]
    status: Literal["active", "revoked"]
    created_by: str
    created_at: datetime
    rotated_at: datetime | None
    previous_secret_valid_until: datetime | None  # null when no previous secret works any more
    revoked_at: datetime | None
    last_token_at: datetime | None


class ServiceClientWithSecret(ServiceClient):
    client_secret: str  # shown this once: only its hash is kept


class ClientGrant(msgspec.Struct, frozen=True):
    client_id: UUID
    tenant_id: UUID
    scopes: list[str]


class ClientAuthFailed(Exception):
    """The client is unknown, revoked, of a suspended tenant, or its secret is wrong."""


class ScopeRefused(Exception):
    """A requested scope does not exist or was not granted to the client."""


_COLUMNS = """id, name, scopes, CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS status,
    created_by, created_at, rotated_at,
    CASE WHEN previous_valid_until > now() THEN previous_valid_until END AS previous_secret_valid_until,
    revoked_at, last_token_at"""

# What decides whether a presented secret is accepted, read again under the row lock before a token is issued.
_CREDENTIALS = """scopes, secret_hash, previous_secret_hash, coalesce(previous_valid_until > now(), false) AS in_grace,
    revoked_at IS NOT NULL AS revoked"""

_NO_SUCH_SECRET = "0" * 64  # compared against when the client is unknown, so both paths do the same work


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, hash_secret(secret)


def _ordered(scopes: list[str] | set[str]) -> list[str]:
    return [s for s in CLIENT_SCOPES if s in scopes]


def _with_secret(row: asyncpg.Record, secret: str) -> ServiceClientWithSecret:
    return msgspec.convert({**dict(row), "client_secret": secret}, ServiceClientWithSecret)


async def create_client(
    conn: asyncpg.Connection, data: ClientCreate, created_by: str
) -> ServiceClientWithSecret:
    secret, secret_hash = _new_secret()
    row = await conn.fetchrow(
        f"INSERT INTO service_clients (name, scopes, secret_hash, created_by) VALUES ($1, $2, $3, $4) "
        f"RETURNING {_COLUMNS}",
        data.name,
        _ordered(set(data.scopes)),
        secret_hash,
        created_by,
    )
    return _with_secret(row, secret)


async def list_clients(
    conn: asyncpg.Connection, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[ServiceClient]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM service_clients c WHERE " + keyset.oldest_first("c", 1),
        *keyset.arguments(after, limit),
    )
    return [msgspec.convert(dict(r), ServiceClient) for r in rows]


async def get_client(conn: asyncpg.Connection, client_id: UUID) -> ServiceClient:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM service_clients WHERE id = $1", client_id)
    if row is None:
        raise NotFound(msg("no service client {client_id}", client_id=client_id))
    return msgspec.convert(dict(row), ServiceClient)


async def rotate_client(
    conn: asyncpg.Connection, client_id: UUID, data: ClientRotate
) -> ServiceClientWithSecret:
    secret, secret_hash = _new_secret()
    row = await conn.fetchrow(
        f"""UPDATE service_clients SET previous_secret_hash = secret_hash, secret_hash = $2,
                previous_valid_until = now() + make_interval(secs => $3), rotated_at = now()
            WHERE id = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}""",
        client_id,
        secret_hash,
        data.grace_seconds,
    )
    if row is None:
        await get_client(conn, client_id)  # 404 when there is no such client
        raise Conflict(msg("a revoked client cannot be rotated"))
    return _with_secret(row, secret)


async def revoke_client(conn: asyncpg.Connection, client_id: UUID) -> ServiceClient:
    """Revoke at once; revoking again changes nothing (the first revocation time stays)."""
    row = await conn.fetchrow(
        f"UPDATE service_clients SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {_COLUMNS}",
        client_id,
    )
    if row is None:
        raise NotFound(msg("no service client {client_id}", client_id=client_id))
    return msgspec.convert(dict(row), ServiceClient)


def _accepts(row: asyncpg.Record | None, presented_hash: str) -> bool:
    if row is None:
        hmac.compare_digest(_NO_SUCH_SECRET, presented_hash)
        return False
    current = hmac.compare_digest(row["secret_hash"], presented_hash)
    previous = hmac.compare_digest(row["previous_secret_hash"] or _NO_SUCH_SECRET, presented_hash)
    return current or (previous and row["in_grace"])


def grant_scopes(requested: str | None, granted: list[str]) -> list[str]:
    """RFC 6749 §3.3: the requested subset of the client's scopes, or all of them when none is named."""
    if requested is None:
        return _ordered(granted)
    wanted = set(requested.split())
    if not wanted:
        raise ScopeRefused("scope names no scope")
    for scope in sorted(wanted):
        if scope not in CLIENT_SCOPES:
            raise ScopeRefused(f"unknown scope '{scope}'")
        if scope not in granted:
            raise ScopeRefused(f"scope '{scope}' is not granted to this client")
    return _ordered(wanted)


async def unrevoked_tenant(conn: asyncpg.Connection, client_id: UUID) -> UUID | None:
    """The tenant of a service client that is not revoked (an auth-lookup connection: before the
    tenant is known, service/auth/directory.py); None for a revoked or unknown client."""
    return await conn.fetchval(
        "SELECT tenant_id FROM service_clients WHERE id = $1 AND revoked_at IS NULL", client_id
    )


async def authenticate_client(
    pool: asyncpg.Pool, client_id: UUID, secret: str, requested_scope: str | None
) -> ClientGrant:
    """The client's grant for a token request, its `last_token_at` recorded; raises ClientAuthFailed or ScopeRefused.

    Client ids are globally unique, so the client is found before its tenant is known (the
    auth-lookup view). A wrong secret never reaches a write; a right one is checked again in the
    tenant's transaction under the row lock, so a revocation or rotation that commits first wins.
    """
    presented = hash_secret(secret)
    async with auth_lookup_transaction(pool) as conn:
        row = await conn.fetchrow(
            f"SELECT c.tenant_id, {_CREDENTIALS} FROM service_clients c WHERE c.id = $1", client_id
        )
        # read for an unknown client too (a tenant that cannot exist), so both paths do the same work
        tenant_status = await tenants.status_of(conn, row["tenant_id"] if row is not None else UUID(int=0))
    if not _accepts(row, presented):
        raise ClientAuthFailed("client authentication failed")
    assert row is not None
    if row["revoked"]:
        raise ClientAuthFailed("this client has been revoked")
    if tenant_status != "active":
        raise ClientAuthFailed("this client's tenant is suspended")
    scopes = grant_scopes(requested_scope, row["scopes"])
    async with tenant_transaction(pool, row["tenant_id"]) as conn:
        locked = await conn.fetchrow(
            f"UPDATE service_clients SET last_token_at = now() WHERE id = $1 RETURNING {_CREDENTIALS}",
            client_id,
        )
        if not _accepts(locked, presented) or locked["revoked"]:
            raise ClientAuthFailed(
                "this client has been revoked or its secret rotated"
            )  # rolls the update back
    return ClientGrant(client_id, row["tenant_id"], scopes)
