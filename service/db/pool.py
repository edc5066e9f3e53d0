"""The asyncpg pool and the only two ways a request touches the database.

Every query runs inside `tenant_transaction` (row-level security sees `app.tenant_id`)
or `operator_transaction` (sees tenants and their issuers, never tenant data). Both are
`SET LOCAL`-scoped: nothing survives on the pooled connection after the transaction.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator
from uuid import UUID

import asyncpg
import msgspec

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def _encode_jsonb(value: object) -> bytes:
    return b"\x01" + _json_encode(value)


def _decode_jsonb(data: bytes) -> object:
    return _json_decode(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"application_name": "assess"},
    )


@asynccontextmanager
async def tenant_transaction(pool: asyncpg.Pool, tenant_id: UUID, *, isolation: str | None = None,
                             readonly: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """`isolation="repeatable_read", readonly=True`: one snapshot for every statement (exports)."""
    async with pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=readonly):
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
        yield conn


@asynccontextmanager
async def operator_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.operator', 'on', true)")
        yield conn


@asynccontextmanager
async def auth_lookup_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Read-only view of tenants' status and trusted issuers, to verify a token before its tenant is known."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SELECT set_config('app.auth_lookup', 'on', true)")
        yield conn


@asynccontextmanager
async def dispatcher_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Read-only view of which tenants have webhook deliveries due (nothing else of any tenant)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SELECT set_config('app.dispatcher', 'on', true)")
        yield conn
