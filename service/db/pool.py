"""The asyncpg pool and the ways the running service touches the database through it.

Queries run inside one of four transactions, each setting what row-level security sees:
`tenant_transaction` (`app.tenant_id`: one tenant's data), `operator_transaction` (tenants and
their issuers, never tenant data), `auth_lookup_transaction` (read-only: tenants' status, trusted
issuers and service clients, to verify a token before its tenant is known) and
`dispatcher_transaction` (read-only: which tenants have webhook deliveries or jobs due). All are
`SET LOCAL`-scoped: nothing survives on the pooled connection after the transaction. Outside them
run only single autocommitted statements calling a SQL function that sets its own transaction-local
context first (`single_statement` for a candidate's save, `save_answer`; the token endpoint's
limits, `auth_rate_take`, in `auth/limits.py`) and the schema check (`migrate.check_schema`, at a
worker's start and in the readiness probe). (Migrations and `assess db` connect as the database
owner instead: service/db/migrate.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


async def _keep_session(conn: asyncpg.Connection) -> None:
    """On release, after asyncpg has rolled back a transaction left open (if any): nothing more.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` on every release, one more round trip per request (of six on the save path, 2026-11-23).
    The service leaves nothing for it to undo: settings are transaction-local, advisory locks are
    transaction-level, cursors live inside transactions, and nothing LISTENs. A test checks that a
    released connection carries no tenant.
    """


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"application_name": "assess"},
    )


# Every transaction sets all four context settings, its own and the others empty, in its first
# statement: with no reset query on release (above), a session-level value left by a mistake could
# otherwise reach a later transaction of another kind. Transaction-local, like everything here.
_CONTEXT = (
    "SELECT set_config('app.tenant_id', $1, true), set_config('app.operator', $2, true), "
    "set_config('app.auth_lookup', $3, true), set_config('app.dispatcher', $4, true)"
)


async def _enter(
    conn: asyncpg.Connection,
    tenant_id: UUID | None = None,
    *,
    operator: bool = False,
    auth_lookup: bool = False,
    dispatcher: bool = False,
) -> None:
    on = {True: "on", False: ""}
    await conn.execute(
        _CONTEXT, str(tenant_id) if tenant_id else "", on[operator], on[auth_lookup], on[dispatcher]
    )


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant_id: UUID, *, isolation: str | None = None, readonly: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """`isolation="repeatable_read", readonly=True`: one snapshot for every statement (exports)."""
    async with pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=readonly):
        await _enter(conn, tenant_id)
        yield conn


async def single_statement(pool: asyncpg.Pool, query: str, *args: object) -> asyncpg.Record:
    """One row of one statement run outside any transaction block: it is its own transaction,
    committed when it returns. Only for a statement that sets its own transaction-local context
    first (a SQL function such as `save_answer`): nothing is set for it here."""
    async with pool.acquire() as conn:
        row: asyncpg.Record = await conn.fetchrow(query, *args)
        return row


@asynccontextmanager
async def operator_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction():
        await _enter(conn, operator=True)
        yield conn


@asynccontextmanager
async def auth_lookup_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Read-only view of tenants' status and trusted issuers, to verify a token before its tenant is known."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await _enter(conn, auth_lookup=True)
        yield conn


@asynccontextmanager
async def dispatcher_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Read-only view of which tenants have webhook deliveries due (nothing else of any tenant)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await _enter(conn, dispatcher=True)
        yield conn
