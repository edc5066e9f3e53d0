"""Dependency providers: the one place a request's transaction is opened.

A generator dependency gets the handler's exception thrown into it, so a failed request
rolls back; its clean-up runs before the response is sent, so a 2xx means committed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Request
from litestar.di import NamedDependency

from service.api.runtime import runtime
from service.auth.principal import Principal
from service.db.pool import operator_transaction, tenant_transaction
from service.errors import DomainError
from service.tenancy.people import Person, person_for_sign_in

Conn = NamedDependency[asyncpg.Connection]


@asynccontextmanager
async def tenant_conn(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """The request's tenant transaction: a domain error rolls it back unless it keeps its changes."""
    principal: Principal = request.user
    assert principal.tenant_id is not None, "tenant routes are guarded by requires_roles"
    kept: DomainError | None = None
    async with tenant_transaction(runtime(request).pool, principal.tenant_id) as conn:
        try:
            yield conn
        except DomainError as exc:
            if not exc.keeps_changes:
                raise
            kept = exc  # leave the transaction normally, so it commits, and answer with the error after
    if kept is not None:
        raise kept


async def provide_tenant_conn(request: Request) -> AsyncGenerator[asyncpg.Connection, None]:
    async with tenant_conn(request) as conn:
        yield conn


async def provide_operator_conn(request: Request) -> AsyncGenerator[asyncpg.Connection, None]:
    async with operator_transaction(runtime(request).pool) as conn:
        yield conn


async def provide_principal(request: Request) -> Principal:
    return request.user


async def current_candidate(request: Request, conn: asyncpg.Connection) -> Person:
    """The person behind a candidate's token: provisioned and active, or refused with 403.

    Called from handlers, not as a dependency: Litestar does not throw a failing sibling
    dependency's error into the connection generator, which would leave it checked out.
    """
    return await person_for_sign_in(conn, request.user.subject)
