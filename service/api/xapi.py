"""The tenant's learning record store: set, read, test, delete; the statement log and redelivery.

For tenant admins only: the LRS credentials are the tenant's, and the log shows every candidate's
statements (by external id).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import httpx
from litestar import Controller, Request, delete, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody, PathParameter

from service.api.auth import requires
from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_dated, next_dated, schema_name
from service.api.responses import errors
from service.api.runtime import runtime
from service.auth.principal import TENANT_ADMIN
from service.db.pool import tenant_transaction
from service.xapi import endpoint
from service.xapi.endpoint import Lrs, LrsSet, LrsTest, StatementDelivery

StatementId = Annotated[UUID, PathParameter(description="Statement id, from the statement log")]
StatementPage = Annotated[Page[StatementDelivery], schema_name("StatementPage")]
_LOG = "lrs-statements"


class LrsController(Controller):
    path = "/v1/lrs"
    tags = ["xapi"]
    guards = [requires(TENANT_ADMIN)]

    @put(
        "/",
        operation_id="putLrs",
        responses=errors(422),
        dependencies={"conn": Provide(provide_tenant_conn)},
        summary="Set the tenant's learning record store (xAPI 1.0.3); statements are queued from now on",
    )
    async def put_lrs(self, request: Request, conn: Conn, data: JSONBody[LrsSet]) -> Lrs:
        loopback = runtime(request).settings.webhook_allow_loopback
        return await endpoint.put(conn, data, request.user.subject, allow_loopback=loopback)

    @get(
        "/",
        operation_id="getLrs",
        responses=errors(404),
        dependencies={"conn": Provide(provide_tenant_conn)},
        summary="The tenant's learning record store (the secret is never returned)",
    )
    async def get_lrs(self, conn: Conn) -> Lrs:
        return await endpoint.get(conn)

    @delete(
        "/",
        operation_id="deleteLrs",
        responses=errors(404),
        dependencies={"conn": Provide(provide_tenant_conn)},
        summary="Remove the learning record store and its statement log",
    )
    async def delete_lrs(self, conn: Conn) -> None:
        await endpoint.delete(conn)

    @post(
        "/test",
        operation_id="testLrs",
        status_code=200,
        responses=errors(404),
        summary="Ask the LRS for one statement with the stored credentials: is it reachable, do they work?",
    )
    async def test_lrs(self, request: Request) -> LrsTest:
        async with tenant_transaction(runtime(request).pool, request.user.tenant_id) as conn:
            target = await endpoint.target(conn, active_only=False)
            if target is None:
                await endpoint.get(conn)  # raises NotFound
        assert target is not None
        async with httpx.AsyncClient(follow_redirects=False) as http:  # no transaction open while it answers
            return await endpoint.test(target, http)

    @get(
        "/statements",
        operation_id="listLrsStatements",
        responses=errors(400, 404),
        dependencies={"conn": Provide(provide_tenant_conn)},
        summary="The statement log, newest first: verb, attempt, status, attempts, the LRS's last answer",
    )
    async def list_statements(
        self, conn: Conn, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> StatementPage:
        items = await endpoint.statements(conn, after=decode_dated(_LOG, cursor), limit=limit)
        return Page(items, next_dated(_LOG, items, limit))

    @post(
        "/statements/{statement_id:uuid}/redeliver",
        operation_id="redeliverLrsStatement",
        status_code=200,
        responses=errors(404),
        dependencies={"conn": Provide(provide_tenant_conn)},
        summary="Send a statement again now, with a fresh retry schedule (the LRS recognises its id)",
    )
    async def redeliver(self, conn: Conn, statement_id: StatementId) -> StatementDelivery:
        return await endpoint.redeliver(conn, statement_id)
