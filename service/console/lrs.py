"""The tenant's learning record store in the console: settings, a connection test, the statement log and
redelivery.

Every action is the API's function behind the API's guard (service/api/xapi.py, tenant admins):
`endpoint.put`, `get`, `delete`, `test`, `statements`, `redeliver`. As on the API, the connection test
reads the stored settings in a transaction of its own and closes it before the LRS answers, and the
basic-auth secret is never shown: saving the settings asks for it again.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
import httpx
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from service.api.deps import Conn, provide_tenant_conn
from service.api.pagination import Cursor, decode_dated, next_dated
from service.api.runtime import runtime
from service.api.xapi import LrsController
from service.console.forms import domain_errors, errors_by_field
from service.console.views import form, page
from service.console.web import session_of
from service.db.pool import tenant_transaction
from service.errors import DomainError, NotFound, msgspec_field_error
from service.xapi import endpoint
from service.xapi.endpoint import LrsSet, LrsTest

admin_lrs = LrsController.guards[0]
StatementId = Annotated[UUID, PathParameter()]
FIELDS = ("url", "key", "secret", "home_page", "active")
LOG_SIZE = 50
_LOG = "lrs-statements"  # the API's cursor kind: a cursor from either reads the same log


class LrsScreens(Controller):
    path = "/console/lrs"
    opt = {"exclude_from_auth": True}
    include_in_schema = False
    guards = [admin_lrs]

    async def _show(
        self,
        request: Request,
        conn: asyncpg.Connection,
        *,
        cursor: str | None = None,
        values: dict[str, Any] | None = None,
        errors: dict[str, list[str]] | None = None,
        tested: LrsTest | None = None,
        status: int = 200,
    ) -> Template:
        try:
            lrs = await endpoint.get(conn)
        except NotFound:
            lrs, log = None, []
        else:
            log = await endpoint.statements(conn, after=decode_dated(_LOG, cursor), limit=LOG_SIZE)
        if values is None:
            values = {
                "url": lrs.url if lrs else "",
                "key": lrs.key if lrs else "",
                "home_page": lrs.home_page if lrs else "",
                "active": lrs.active if lrs else True,
            }
        return await page(
            request,
            conn,
            "lrs.html",
            status_code=status,
            lrs=lrs,
            log=log,
            next_cursor=next_dated(_LOG, log, LOG_SIZE),
            values=values,
            errors=errors or {},
            tested=tested,
            notice=request.query_params.get("done"),
        )

    @get("/", dependencies={"conn": Provide(provide_tenant_conn)})
    async def lrs(self, request: Request, conn: Conn, cursor: Cursor = None) -> Template:
        return await self._show(request, conn, cursor=cursor)

    @post("/", dependencies={"conn": Provide(provide_tenant_conn)})
    async def put_lrs(self, request: Request, conn: Conn) -> Template | Redirect:
        """`endpoint.put` (PUT /v1/lrs): statements are queued from now on."""
        data = await form(request)
        values: dict[str, Any] = {name: data.get(name, "").strip() for name in FIELDS if name != "active"}
        values["active"] = data.get("active") == "on"
        locale = session_of(request).locale
        try:
            wanted = msgspec.convert(values, LrsSet)
            async with conn.transaction():
                await endpoint.put(
                    conn,
                    wanted,
                    request.user.subject,
                    allow_loopback=runtime(request).settings.webhook_allow_loopback,
                )
        except msgspec.ValidationError as exc:
            problem = msgspec_field_error(str(exc))
            errors = errors_by_field([problem], problem.detail, FIELDS, locale)
        except DomainError as exc:
            errors = domain_errors(exc, FIELDS, locale)
        else:
            return Redirect("/console/lrs?done=saved", status_code=303)
        shown = {name: value for name, value in values.items() if name != "secret"}  # never echoed
        return await self._show(request, conn, values=shown, errors=errors, status=422)

    @post("/test")
    async def test_lrs(self, request: Request) -> Template:
        """`endpoint.test` (POST /v1/lrs/test): no transaction is open while the LRS answers."""
        pool, tenant_id = runtime(request).pool, request.user.tenant_id
        async with tenant_transaction(pool, tenant_id) as conn:
            target = await endpoint.target(conn, active_only=False)
            if target is None:
                await endpoint.get(conn)  # raises NotFound
        assert target is not None
        async with httpx.AsyncClient(follow_redirects=False) as http:
            tested = await endpoint.test(target, http)
        async with tenant_transaction(pool, tenant_id) as conn:
            return await self._show(request, conn, tested=tested)

    @post("/delete", dependencies={"conn": Provide(provide_tenant_conn)})
    async def delete_lrs(self, conn: Conn) -> Redirect:
        """`endpoint.delete` (DELETE /v1/lrs): the settings and the statement log go."""
        await endpoint.delete(conn)
        return Redirect("/console/lrs?done=deleted", status_code=303)

    @post("/statements/{statement_id:uuid}/redeliver", dependencies={"conn": Provide(provide_tenant_conn)})
    async def redeliver(self, conn: Conn, statement_id: StatementId) -> Redirect:
        """`endpoint.redeliver` (POST /v1/lrs/statements/{id}/redeliver): the LRS recognises its id."""
        await endpoint.redeliver(conn, statement_id)
        return Redirect("/console/lrs?done=redeliver", status_code=303)
